import Testing
@testable import WireNet

@Suite("Request/response through two nodes", .serialized)
struct NodeRequestResponseTests {
    /// A read that finds nothing buffered does not wake the engine (it waits for a packet, and the
    /// loop registers queued reads before it reports what a packet brought): no such read may be
    /// left waiting, neither one issued before its data nor one issued after the data was buffered.
    /// No TCP timer may rescue a lost read either (delayed ACKs and retransmissions are pushed far
    /// out); what else wakes the engine (WireGuard's timers) comes seconds apart, so a read left
    /// waiting shows as an exchange that takes far longer than its usual second (20 s with reads
    /// that never wake the engine).
    @Test(.timeLimit(.minutes(1)), arguments: [UDPTransportChoice.ioUring, .portable])
    func everyReadCompletesWithoutWakingTheEngine(transport: UDPTransportChoice) async throws {
        let pair = try await NodePair.start(options: .withoutTCPTimerRescue(transport: transport))
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9100)
        let rounds = 300
        let serverTask = Task {
            guard let stream = try await listener.accept() else { return 0 }
            let served = try await ReversedEcho.serve(stream, rounds: rounds)
            guard served == rounds else { return served }
            // Messages that are buffered before the client reads them.
            for message in 0..<3 {
                try await stream.write([UInt8](repeating: UInt8(message), count: 10))
                try await Task.sleep(for: .milliseconds(5))
            }
            try await stream.shutdownWrite()
            stream.close()
            return served
        }

        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9100)
        let started = ContinuousClock.now
        try await ReversedEcho.exchange(stream, rounds: rounds)
        try await Task.sleep(for: .milliseconds(100))
        var tail: [UInt8] = []
        while let chunk = try await stream.read() { tail += chunk }
        #expect(tail == [UInt8](repeating: 0, count: 10) + [UInt8](repeating: 1, count: 10) + [UInt8](repeating: 2, count: 10))
        #expect(try await serverTask.value == rounds)
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(10), "\(rounds) exchanges took \(elapsed): a read waited for an unrelated wake-up")
        stream.close()
        listener.close()
    }
}
