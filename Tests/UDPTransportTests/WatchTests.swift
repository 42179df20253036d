import Foundation
import Glibc
import Testing
@testable import UDPTransport

/// ``UDPTransport/watch(_:)``: with io_uring a loop that waits on more than its datagrams (a node's
/// host sockets) still waits in one `io_uring_enter`; the other descriptors are poll requests in the
/// ring. A report the loop misses leaves it asleep with a host socket readable.
extension UDPTransportTests {
    /// A pipe whose read end a test watches; closed by ``close()``.
    struct Pipe {
        let read: Int32
        let write: Int32

        init() throws {
            var ends: [Int32] = [-1, -1]
            try #require(pipe(&ends) == 0)
            (read, write) = (ends[0], ends[1])
            _ = fcntl(read, F_SETFL, O_NONBLOCK)
            _ = fcntl(write, F_SETFL, O_NONBLOCK)
        }

        /// Writes one byte; true when the pipe took it.
        @discardableResult
        func put(_ byte: UInt8) -> Bool {
            var byte = byte
            return Glibc.write(write, &byte, 1) == 1
        }

        /// Reads everything the pipe holds.
        func drain() -> [UInt8] {
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 64)
            while true {
                let count = Glibc.read(read, &buffer, buffer.count)
                guard count > 0 else { return bytes }
                bytes += buffer[0 ..< count]
            }
        }

        func close() {
            Glibc.close(read)
            Glibc.close(write)
        }
    }

    @Test func thePortableBackendDoesNotWatch() throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(.portable))
        defer { transport.close() }
        let pipe = try Pipe()
        defer { pipe.close() }
        #expect(!transport.watch(pipe.read))
    }

    /// A wait with no limit ends when the watched descriptor becomes readable (from another thread,
    /// while the loop sleeps), and the batch names it; each time it becomes readable again it is
    /// reported again, and a wait while nothing is readable sleeps for its whole timeout.
    @Test(.timeLimit(.minutes(1))) func aWatchedDescriptorEndsTheWaitOncePerReadiness() throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(.ioUring))
        defer { transport.close() }
        let pipe = try Pipe()
        defer { pipe.close() }
        #expect(transport.watch(pipe.read))
        var batch = ReceiveBatch()
        defer { transport.recycle(&batch) }
        try transport.receive(into: &batch, timeout: .zero)  // submits the poll request
        #expect(batch.readyDescriptors.isEmpty)

        for round in 0 ..< 3 {
            // Written while the loop sleeps in the ring's wait.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { pipe.put(UInt8(round)) }
            let started = ContinuousClock.now
            try transport.receive(into: &batch, timeout: nil)
            #expect(batch.readyDescriptors == [pipe.read], "round \(round)")
            #expect(batch.datagrams.isEmpty && !batch.wasWoken, "round \(round)")
            #expect(ContinuousClock.now - started < .seconds(5), "round \(round)")
            #expect(pipe.drain() == [UInt8(round)], "round \(round)")

            // Drained: nothing more is reported, and a limited wait runs to its end.
            let waited = ContinuousClock.now
            try transport.receive(into: &batch, timeout: .milliseconds(30))
            #expect(batch.readyDescriptors.isEmpty, "round \(round): reported again after it was drained")
            #expect(ContinuousClock.now - waited >= .milliseconds(30), "round \(round)")
        }
    }

    /// `send` collects every ready completion, a watch's report too; the ring's descriptor is then no
    /// longer readable, so the report must show in ``UDPTransport/hasPendingInput`` and a wait must not
    /// sleep over it.
    @Test(.timeLimit(.minutes(1))) func aReportCollectedBySendIsPendingInput() throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(.ioUring))
        defer { transport.close() }
        let pipe = try Pipe()
        defer { pipe.close() }
        #expect(transport.watch(pipe.read))
        var batch = ReceiveBatch()
        defer { transport.recycle(&batch) }
        try transport.receive(into: &batch, timeout: .zero)
        var empty = SendBatch(capacity: 1)
        for round in 0 ..< 3 {
            #expect(pipe.put(UInt8(round)))
            var descriptor = pollfd(fd: transport.pollDescriptor, events: Int16(POLLIN), revents: 0)
            #expect(poll(&descriptor, 1, 2000) == 1, "round \(round): the report is in the completion queue")
            transport.send(&empty)
            #expect(Self.readyWithoutWaiting(transport), "round \(round)")
            let started = ContinuousClock.now
            try transport.receive(into: &batch, timeout: .seconds(10))
            #expect(ContinuousClock.now - started < .seconds(5), "round \(round): slept over the report")
            #expect(batch.readyDescriptors == [pipe.read], "round \(round)")
            #expect(pipe.drain() == [UInt8(round)])
            #expect(!transport.hasPendingInput, "round \(round): nothing left")
        }
    }

    /// Datagrams and a watched descriptor's report come in the same batch; closing the transport
    /// with a watch armed cancels it (no wait for the descriptor).
    @Test(.timeLimit(.minutes(1))) func datagramsAndReportsArriveTogether() throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(.ioUring))
        let pipe = try Pipe()
        defer { pipe.close() }
        #expect(transport.watch(pipe.read))
        var batch = ReceiveBatch()
        try transport.receive(into: &batch, timeout: .zero)
        let plain = PlainSocket()
        plain.send([7], to: transport.localPort)
        #expect(pipe.put(1))
        var datagrams: [[UInt8]] = []
        var reports: [Int32] = []
        for _ in 0 ..< 20 where datagrams.isEmpty || reports.isEmpty {
            try transport.receive(into: &batch, timeout: .milliseconds(100))
            datagrams += batch.datagrams.map { Array(UnsafeRawBufferPointer($0.bytes)) }
            reports += batch.readyDescriptors
        }
        #expect(datagrams == [[7]])
        #expect(reports == [pipe.read])
        transport.recycle(&batch)
        let closing = ContinuousClock.now
        transport.close()
        #expect(ContinuousClock.now - closing < .seconds(1), "close waited for the armed watch")
    }
}
