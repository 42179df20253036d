import Foundation
import Glibc
import Testing
@testable import UDPTransport

/// Loopback tests run against both backends. Serialized: the descriptor-count test must not see
/// other transports of this suite come and go.
@Suite("UDPTransport", .serialized)
struct UDPTransportTests {
    @Test(arguments: Fixture.backends)
    func ephemeralPortIsChosenByTheKernelAndReported(backend: UDPTransport.Backend) throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { transport.close() }
        #expect(transport.localPort != 0)
        #expect(transport.backend == backend)
        // A plain socket reaches the reported port.
        let plain = PlainSocket()
        plain.send([1, 2, 3], to: transport.localPort)
        let received = try Fixture.receive(1, on: transport)
        #expect(received.map(\.bytes) == [[1, 2, 3]])
        #expect(received.first?.source == plain.endpoint)
    }

    @Test(arguments: Fixture.backends, [UDPEndpoint.Address.loopbackIPv4, .loopbackIPv6])
    func batchesArriveCompleteInOrderWithSourceAndLocalAddress(backend: UDPTransport.Backend,
                                                               loopback: UDPEndpoint.Address) throws {
        let sender = try UDPTransport(configuration: Fixture.configuration(backend))
        let receiver = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { sender.close(); receiver.close() }
        // Mixed sizes, so some runs are GSO super-datagrams and some are single datagrams.
        let sizes = [100, 1400, 1400, 1400, 700, 1, 0, 2048, 1200, 1200]
        let payloads = sizes.enumerated().map { Fixture.payload($0.offset, size: $0.element) }
        Fixture.send(payloads, from: sender, to: UDPEndpoint(address: loopback, port: receiver.localPort))
        let received = try Fixture.receive(payloads.count, on: receiver)
        #expect(Fixture.mismatch(received.map(\.bytes), payloads) == nil)
        for datagram in received {
            #expect(datagram.source == UDPEndpoint(address: loopback, port: sender.localPort))
            #expect(datagram.localAddress == loopback)
        }
        #expect(sender.statistics.datagramsSent == payloads.count)
        #expect(receiver.statistics.datagramsReceived == payloads.count)
    }

    @Test(arguments: Fixture.backends, [false, true])
    func datagramsLeaveFromTheRequestedSourceAddress(backend: UDPTransport.Backend, refuseGSO: Bool) throws {
        // All of 127.0.0.0/8 is local on `lo`, so 127.0.0.2 is a second address to send from.
        var configuration = Fixture.configuration(backend)
        configuration.faults.disableIPv4Checksums = refuseGSO
        let sender = try UDPTransport(configuration: configuration)
        let receiver = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { sender.close(); receiver.close() }
        let second = UDPEndpoint.Address.ipv4(127, 0, 0, 2)
        let destination = UDPEndpoint.loopbackIPv4(port: receiver.localPort)
        var batch = SendBatch()
        let payloads = (0 ..< 6).map { Fixture.payload($0, size: 800) }
        for (index, payload) in payloads.enumerated() {
            var buffer = try #require(sender.makeSendBuffer())
            payload.withUnsafeBytes { _ = buffer.setDatagram($0) }
            batch.append(buffer, to: destination, from: index < 4 ? second : nil)
        }
        sender.send(&batch)
        let received = try Fixture.receive(6, on: receiver)
        #expect(Fixture.mismatch(received.map(\.bytes), payloads) == nil)
        #expect(received.map(\.source.address) == [second, second, second, second, .loopbackIPv4, .loopbackIPv4])
        #expect(received.allSatisfy { $0.source.port == sender.localPort })
    }

    @Test(arguments: Fixture.backends)
    func groSplitsACoalescedSuperDatagramIntoItsSegments(backend: UDPTransport.Backend) throws {
        let sender = try UDPTransport(configuration: Fixture.configuration(backend))
        let receiver = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { sender.close(); receiver.close() }
        try #require(sender.segmentationOffload && receiver.receiveCoalescing, "kernel without UDP GSO/GRO")
        // 20 segments of 1000 bytes and a shorter last one: one GSO send.
        let payloads = (0 ..< 21).map { Fixture.payload($0, size: $0 == 20 ? 321 : 1000) }
        Fixture.send(payloads, from: sender, to: .loopbackIPv4(port: receiver.localPort))
        let received = try Fixture.receive(payloads.count, on: receiver)
        #expect(Fixture.mismatch(received.map(\.bytes), payloads) == nil)
        #expect(sender.statistics.segmentedSends == 1)
        // Over loopback a GSO datagram reaches a GRO socket whole: one receive for 21 datagrams.
        #expect(receiver.statistics.receiveMessages == 1)
    }

    @Test(arguments: Fixture.backends)
    func groSegmentsOfOneBufferCanSpanTwoBatches(backend: UDPTransport.Backend) throws {
        let sender = try UDPTransport(configuration: Fixture.configuration(backend))
        let receiver = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { sender.close(); receiver.close() }
        try #require(sender.segmentationOffload && receiver.receiveCoalescing, "kernel without UDP GSO/GRO")
        // Two super-datagrams of 64 segments: 128 datagrams; a batch of 128 that already holds
        // one datagram must carry the rest over to the next call.
        let first = [Fixture.payload(999, size: 10)]
        let bulk = (0 ..< 128).map { Fixture.payload($0, size: 200) }
        Fixture.send(first, from: sender, to: .loopbackIPv4(port: receiver.localPort))
        Fixture.send(bulk, from: sender, to: .loopbackIPv4(port: receiver.localPort))
        var batch = ReceiveBatch(capacity: 128)
        var copies: [[UInt8]] = []
        var calls = 0
        while copies.count < 129 && calls < 40 {
            try receiver.receive(into: &batch, timeout: .milliseconds(100))
            copies += batch.datagrams.map { Array(UnsafeRawBufferPointer($0.bytes)) }
            calls += 1
        }
        receiver.recycle(&batch)
        #expect(Fixture.mismatch(copies, first + bulk) == nil)
    }

    @Test(arguments: Fixture.backends)
    func gsoSendArrivesAsIndividualDatagramsAtAPlainSocket(backend: UDPTransport.Backend) throws {
        let sender = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { sender.close() }
        try #require(sender.segmentationOffload, "kernel without UDP GSO")
        let plain = PlainSocket()
        let payloads = (0 ..< 10).map { Fixture.payload($0, size: 1200) }
        Fixture.send(payloads, from: sender, to: plain.endpoint)
        let received = (0 ..< 10).compactMap { _ in plain.receive() }
        #expect(Fixture.mismatch(received, payloads) == nil)
        // Drain the send completion, then check it went out as one super-datagram.
        _ = try Fixture.receive(0, on: sender, rounds: 1)
        #expect(sender.statistics.segmentedSends == 1)
        #expect(sender.statistics.datagramsSent == 10)
    }

    @Test(arguments: Fixture.backends)
    func refusedGSOIsResentAsSingleDatagramsAndLoggedOnce(backend: UDPTransport.Backend) throws {
        let log = LogLines()
        var configuration = Fixture.configuration(backend, log: log)
        configuration.faults.disableIPv4Checksums = true
        let sender = try UDPTransport(configuration: configuration)
        defer { sender.close() }
        try #require(sender.segmentationOffload, "kernel without UDP GSO")
        let plain = PlainSocket()
        let payloads = (0 ..< 8).map { Fixture.payload($0, size: 1000) }
        Fixture.send(payloads, from: sender, to: plain.endpoint)
        Fixture.send(payloads, from: sender, to: plain.endpoint)
        let received = (0 ..< 16).compactMap { _ in plain.receive() }
        #expect(Fixture.mismatch(received, payloads + payloads) == nil)
        var errors: [DatagramError] = []
        _ = try Fixture.receive(0, on: sender, rounds: 1, errors: &errors)
        #expect(errors.isEmpty)
        #expect(sender.statistics.segmentedSends == 0)
        #expect(sender.statistics.datagramsSent == 16)
        #expect(log.all.filter { $0.contains("GSO refused") }.count == 1)
    }

    @Test(arguments: Fixture.backends)
    func sendToAClosedPortReportsConnectionRefusedAndTheLoopKeepsGoing(backend: UDPTransport.Backend) throws {
        let sender = try UDPTransport(configuration: Fixture.configuration(backend))
        let receiver = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { sender.close(); receiver.close() }
        let closed = UDPEndpoint.loopbackIPv4(port: Fixture.closedPort())
        Fixture.send([Fixture.payload(0, size: 100)], from: sender, to: closed)
        let refused = try Fixture.waitForError(on: sender) { $0.error == .connectionRefused }
        #expect(refused?.destination == closed)
        // Both directions still work afterwards. The second refusal is left pending on the socket
        // (loopback delivers the ICMP error during the send), so the next send fails with it: that
        // datagram must still go out, and the error must be reported for the closed port only.
        Fixture.send([Fixture.payload(1, size: 100)], from: sender, to: closed)
        let payloads = (0 ..< 5).map { Fixture.payload($0, size: 300) }
        let live = UDPEndpoint.loopbackIPv6(port: receiver.localPort)
        Fixture.send(payloads, from: sender, to: live)
        #expect(Fixture.mismatch(try Fixture.receive(5, on: receiver).map(\.bytes), payloads) == nil)
        Fixture.send(payloads, from: receiver, to: .loopbackIPv4(port: sender.localPort))
        var errors: [DatagramError] = []
        #expect(Fixture.mismatch(try Fixture.receive(5, on: sender, errors: &errors).map(\.bytes), payloads) == nil)
        #expect(errors.allSatisfy { $0.destination == closed && $0.error == .connectionRefused })
        #expect(errors.count == 1)
    }

    @Test(arguments: Fixture.backends)
    func oversizeDatagramReportsMessageTooLongAndOthersStillGo(backend: UDPTransport.Backend) throws {
        var configuration = Fixture.configuration(backend)
        configuration.sendBufferSize = 70_000
        configuration.sendBufferCount = 8
        let sender = try UDPTransport(configuration: configuration)
        let receiver = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { sender.close(); receiver.close() }
        let destination = UDPEndpoint.loopbackIPv4(port: receiver.localPort)
        let small = Fixture.payload(1, size: 500)
        Fixture.send([Fixture.payload(0, size: 66_000), small], from: sender, to: destination)
        let tooLong = try Fixture.waitForError(on: sender) { $0.error == .messageTooLong }
        #expect(tooLong?.destination == destination)
        #expect(tooLong?.origin == .send)
        #expect(tooLong?.datagrams == 1)
        #expect(Fixture.mismatch(try Fixture.receive(1, on: receiver).map(\.bytes), [small]) == nil)
    }

    @Test(arguments: Fixture.backends)
    func wakerEndsAWaitWithoutTimeoutFromAnotherThread(backend: UDPTransport.Backend) throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { transport.close() }
        let waker = transport.waker
        let thread = Thread { usleep(50_000); waker.wake() }
        thread.start()
        var batch = ReceiveBatch()
        try transport.receive(into: &batch, timeout: nil)
        #expect(batch.wasWoken)
        #expect(batch.isEmpty)
        while !thread.isFinished { usleep(1000) }
    }

    @Test(arguments: Fixture.backends)
    func pollDescriptorBecomesReadableWhenADatagramArrives(backend: UDPTransport.Backend) throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { transport.close() }
        var batch = ReceiveBatch()
        try transport.receive(into: &batch, timeout: .zero)  // arms everything
        PlainSocket().send([42], to: transport.localPort)
        var descriptor = pollfd(fd: transport.pollDescriptor, events: Int16(POLLIN), revents: 0)
        #expect(poll(&descriptor, 1, 2000) == 1)
        var copies: [[UInt8]] = []
        for _ in 0 ..< 10 where copies.isEmpty {
            try transport.receive(into: &batch, timeout: .milliseconds(100))
            copies += batch.datagrams.map { Array(UnsafeRawBufferPointer($0.bytes)) }
        }
        #expect(copies == [[42]])
    }

    /// A wake-up reaped by `send` re-arms the wake-up read; it must reach the kernel before the
    /// caller polls, or the next wake-up leaves the descriptor unreadable (the engine's ppoll wait
    /// of tailnet and TUN nodes then slept until its timeout).
    @Test(arguments: Fixture.backends)
    func pollDescriptorBecomesReadableOnAWakeUpAfterASendReapedTheLastOne(backend: UDPTransport.Backend) throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { transport.close() }
        var batch = ReceiveBatch()
        try transport.receive(into: &batch, timeout: .zero)  // arms everything
        var empty = SendBatch(capacity: 1)
        for round in 0 ..< 3 {
            transport.waker.wake()
            transport.send(&empty)  // reaps the wake-up's completion and re-arms the read
            transport.waker.wake()
            var descriptor = pollfd(fd: transport.pollDescriptor, events: Int16(POLLIN), revents: 0)
            #expect(poll(&descriptor, 1, 2000) == 1, "round \(round)")
            try transport.receive(into: &batch, timeout: .zero)
        }
    }

    @Test(arguments: Fixture.backends)
    func closeReleasesTheSocketRingAndDescriptors(backend: UDPTransport.Backend) throws {
        let rings = Fixture.openDescriptors("io_uring")
        let port: UInt16
        var descriptors: [CInt] = []
        do {
            let transport = try UDPTransport(configuration: Fixture.configuration(backend))
            port = transport.localPort
            descriptors = [transport.waker.descriptor, transport.pollDescriptor]
            #expect(Fixture.portIsBound(port))
            #expect(Fixture.openDescriptors("io_uring") == rings + (backend == .ioUring ? 1 : 0))
            // Leave work in flight: a received datagram held in a batch and sends queued.
            let peer = PlainSocket()
            peer.send([7], to: port)
            var batch = ReceiveBatch()
            _ = try? transport.receive(into: &batch, timeout: .seconds(1))
            Fixture.send((0 ..< 4).map { Fixture.payload($0, size: 100) }, from: transport, to: peer.endpoint)
            transport.close()
            #expect(transport.pollDescriptor == -1)
            #expect(throws: Errno.self) { try transport.receive(into: &batch, timeout: .zero) }
            transport.close()
        }
        // The socket, the ring (or the portable path's epoll set) and the waker's eventfd are gone.
        #expect(!Fixture.portIsBound(port))
        #expect(Fixture.openDescriptors("io_uring") == rings)
        for descriptor in descriptors {
            #expect(fcntl(descriptor, F_GETFD) == -1, "descriptor \(descriptor) still open")
        }
    }

    @Test func automaticFallsBackToPortableWhenIOUringSetupFailsAndLogsOnce() throws {
        let log = LogLines()
        var configuration = Fixture.configuration(.automatic, log: log)
        configuration.faults.ioUringSetupError = .permissionDenied
        let transport = try UDPTransport(configuration: configuration)
        defer { transport.close() }
        #expect(transport.backend == .portable)
        #expect(log.all.count == 1)
        #expect(log.all.first?.contains("io_uring unavailable") == true)
        #expect(log.all.first?.contains("EPERM") == true)
        let payloads = (0 ..< 3).map { Fixture.payload($0, size: 64) }
        Fixture.send(payloads, from: transport, to: .loopbackIPv4(port: transport.localPort))
        #expect(Fixture.mismatch(try Fixture.receive(3, on: transport).map(\.bytes), payloads) == nil)
    }

    @Test func explicitIOUringFailsWhenSetupFails() throws {
        var configuration = Fixture.configuration(.ioUring)
        configuration.faults.ioUringSetupError = .permissionDenied
        #expect(throws: Errno.permissionDenied) { try UDPTransport(configuration: configuration) }
    }

    @Test func automaticUsesIOUringWhereAvailable() throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(.automatic))
        defer { transport.close() }
        let disabled = (try? String(contentsOfFile: "/proc/sys/kernel/io_uring_disabled", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if disabled == nil || disabled == "0" {
            #expect(transport.backend == .ioUring)
        }
    }

    @Test(arguments: Fixture.backends)
    func withoutOffloadsEveryDatagramIsSentAndReceivedSingly(backend: UDPTransport.Backend) throws {
        let sender = try UDPTransport(configuration: Fixture.configuration(backend, gso: false, gro: false))
        let receiver = try UDPTransport(configuration: Fixture.configuration(backend, gso: false, gro: false))
        defer { sender.close(); receiver.close() }
        #expect(!sender.segmentationOffload && !receiver.receiveCoalescing)
        let payloads = (0 ..< 12).map { Fixture.payload($0, size: 1000) }
        Fixture.send(payloads, from: sender, to: .loopbackIPv6(port: receiver.localPort))
        #expect(Fixture.mismatch(try Fixture.receive(12, on: receiver).map(\.bytes), payloads) == nil)
        #expect(receiver.statistics.receiveMessages == 12)
        #expect(sender.statistics.segmentedSends == 0)
    }

    @Test(arguments: Fixture.backends)
    func manyBatchesReuseTheSameBuffersWithoutLoss(backend: UDPTransport.Backend) throws {
        let sender = try UDPTransport(configuration: Fixture.configuration(backend))
        let receiver = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { sender.close(); receiver.close() }
        // More datagrams than either pool has buffers, one batch at a time, so buffers cycle.
        var batch = ReceiveBatch()
        var errors: [DatagramError] = []
        var expected: [[UInt8]] = []
        var got: [[UInt8]] = []
        for round in 0 ..< 20 {
            let payloads = (0 ..< 32).map { Fixture.payload(round * 32 + $0, size: 600 + round) }
            expected += payloads
            Fixture.send(payloads, from: sender, to: .loopbackIPv4(port: receiver.localPort))
            var idle = 0
            while got.count < expected.count && idle < 20 {
                try receiver.receive(into: &batch, timeout: .milliseconds(100))
                if batch.isEmpty { idle += 1 }
                got += batch.datagrams.map { Array(UnsafeRawBufferPointer($0.bytes)) }
            }
            _ = try Fixture.receive(0, on: sender, rounds: 1, errors: &errors)
        }
        receiver.recycle(&batch)
        #expect(Fixture.mismatch(got, expected) == nil)
        #expect(errors.isEmpty)
    }
}
