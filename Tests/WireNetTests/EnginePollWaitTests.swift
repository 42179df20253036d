#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Locking
import NetTestSupport
import Synchronization
import Testing
@testable import WireNet

/// A loop that waits on more than its UDP transport — a tailnet node's relay connections, a kernel
/// TUN device — waits in `ppoll` on the transport's descriptor and those, not inside the transport;
/// since the transport reports what it already holds (`UDPTransport.hasPendingInput`, tested in
/// UDPTransportTests), such nodes use io_uring too. Host sockets
/// (``Node/addLoopPollSource(_:onReadable:)``) are polled inside the io_uring transport's ring
/// (`UDPTransport.watch`) and join the `ppoll` wait only with the portable transport. This runs
/// both waits end to end.
@Suite("Engine waiting on more than its transport", .serialized)
struct EnginePollWaitTests {
    /// Both loops wait on an idle descriptor too (in the ring with io_uring, in `ppoll` with the
    /// portable transport), TCP's own timers are pushed
    /// out of reach, and what else wakes a loop (WireGuard's timers) comes seconds apart: a datagram
    /// left waiting with nothing else to wake the loop shows as a transfer or exchange that takes
    /// seconds instead of milliseconds. (Here the tasks' reads and writes wake the loops too, which
    /// hid the lost wake-ups of the io_uring transport: this passed before they were fixed.)
    @Test(.timeLimit(.minutes(2)), arguments: [UDPTransportChoice.ioUring, .portable])
    func transfersAndExchangesNeverWaitForAnUnrelatedWakeUp(transport: UDPTransportChoice) async throws {
        let pair = try await NodePair.start(options: .withoutTCPTimerRescue(transport: transport))
        // The read end of a pipe nobody writes to: never readable.
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        let (idle, writeEnd) = (ends[0], ends[1])
        defer { Task { await pair.close(); close(idle); close(writeEnd) } }
        try pair.server.addLoopPollSource(idle) {}
        try pair.client.addLoopPollSource(idle) {}

        let listener = try await pair.server.listen(tcp: 9200)
        let size = 4 << 20
        let rounds = 200
        // The server takes `size` bytes, answers with their digest and sends `size` bytes back,
        // then answers `rounds` requests.
        let serverTask = Task {
            guard let stream = try await listener.accept() else { return 0 }
            var digest = SHA256Digest()
            var received = 0
            while received < size, let chunk = try await stream.read(maximumLength: size - received) {
                digest.update(chunk)
                received += chunk.count
            }
            try await stream.write(digest.finish())
            var source = PatternSource(seed: 7)
            var sent = 0
            while sent < size {
                let chunk = source.next(min(100_000, size - sent))
                try await stream.write(chunk)
                sent += chunk.count
            }
            let served = try await ReversedEcho.serve(stream, rounds: rounds)
            guard served == rounds else { return served }
            stream.close()
            return served
        }

        let started = ContinuousClock.now
        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9200)
        var source = PatternSource(seed: 42)
        var sentDigest = SHA256Digest()
        var sent = 0
        while sent < size {
            let chunk = source.next(min(100_000, size - sent))
            sentDigest.update(chunk)
            try await stream.write(chunk)
            sent += chunk.count
        }
        var reply: [UInt8] = []
        while reply.count < 32, let chunk = try await stream.read(maximumLength: 32 - reply.count) { reply += chunk }
        #expect(reply == sentDigest.finish(), "the server's digest of what it received")
        let uploaded = ContinuousClock.now

        var expected = PatternSource(seed: 7)
        var expectedDigest = SHA256Digest()
        var receivedDigest = SHA256Digest()
        var received = 0
        while received < size, let chunk = try await stream.read(maximumLength: size - received) {
            receivedDigest.update(chunk)
            expectedDigest.update(expected.next(chunk.count))
            received += chunk.count
        }
        #expect(received == size)
        #expect(receivedDigest.finish() == expectedDigest.finish(), "what the server sent back")
        let downloaded = ContinuousClock.now

        try await ReversedEcho.exchange(stream, rounds: rounds)
        #expect(try await serverTask.value == rounds)
        let finished = ContinuousClock.now
        // Milliseconds to a second or two each (debug build, loaded machine); one datagram left
        // waiting costs seconds.
        #expect(uploaded - started < .seconds(15), "upload of \(size) bytes took \(uploaded - started)")
        #expect(downloaded - uploaded < .seconds(15), "download of \(size) bytes took \(downloaded - uploaded)")
        #expect(finished - downloaded < .seconds(10), "\(rounds) exchanges took \(finished - downloaded)")
        stream.close()
        listener.close()
    }

    /// A host poll source's handler runs on the loop thread each time the descriptor becomes
    /// readable, while the loop has nothing else to do (its wait would otherwise last until
    /// WireGuard's next timer, seconds away).
    @Test(.timeLimit(.minutes(1)), arguments: [UDPTransportChoice.ioUring, .portable])
    func aHostPollSourceRunsItsHandlerOnTheLoopThread(transport: UDPTransportChoice) async throws {
        let pair = try await NodePair.start(options: .withoutTCPTimerRescue(transport: transport))
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        let (readEnd, writeEnd) = (ends[0], ends[1])
        _ = fcntl(readEnd, F_SETFL, O_NONBLOCK)
        defer { Task { await pair.close(); close(readEnd); close(writeEnd) } }
        // What each run of the handler read, and on which thread.
        let runs = Lock<[(bytes: [UInt8], thread: String)]>([])
        try pair.server.addLoopPollSource(readEnd) {
            var buffer = [UInt8](repeating: 0, count: 16)
            let count = read(readEnd, &buffer, buffer.count)
            // The calling thread's name (Glibc's module has no pthread_getname_np).
            let name = ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .newlines)
            runs.withLock { $0.append((Array(buffer.prefix(max(count, 0))), name)) }
        }
        for round in 0 ..< 3 {
            try await Task.sleep(for: .milliseconds(20))  // the loop is asleep again
            var byte = UInt8(round)
            #expect(write(writeEnd, &byte, 1) == 1)
            let started = ContinuousClock.now
            while runs.withLock({ $0.count }) <= round && ContinuousClock.now - started < .seconds(5) {
                try await Task.sleep(for: .milliseconds(1))
            }
            let last = runs.withLock { $0.last }
            #expect(last?.bytes == [UInt8(round)], "round \(round): \(runs.withLock { $0.count }) runs")
            #expect(last?.thread == "wirenet-engine", "round \(round)")
        }
    }
}
