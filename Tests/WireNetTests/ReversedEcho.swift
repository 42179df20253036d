import Testing
@testable import WireNet

/// Pieces of the tests that check no packet waits for an unrelated wake-up of the engine
/// (`NodeRequestResponseTests`, `EnginePollWaitTests`).
extension Node.Options {
    /// Options under which no TCP timer rescues a lost wake-up: delayed ACKs and retransmissions
    /// are pushed minutes out and Nagle is off, so only packets (and WireGuard's timers, seconds
    /// apart) wake the engine.
    static func withoutTCPTimerRescue(transport: UDPTransportChoice) -> Node.Options {
        var options = Node.Options()
        options.transportBackend = transport.backend
        options.tcp.delayedAckTimeout = .seconds(300)
        options.tcp.minimumRTO = .seconds(300)
        options.tcp.maximumRTO = .seconds(600)
        options.tcp.noDelay = true
        return options
    }
}

enum ReversedEcho {
    /// Server side: answers each 64-byte request with its bytes reversed, `rounds` times; returns
    /// how many it answered before the stream ended.
    static func serve(_ stream: TCPStream, rounds: Int) async throws -> Int {
        var served = 0
        while served < rounds {
            var request: [UInt8] = []
            while request.count < 64 {
                guard let chunk = try await stream.read(maximumLength: 64 - request.count) else { return served }
                request += chunk
            }
            try await stream.write(Array(request.reversed()))
            served += 1
        }
        return served
    }

    /// Client side: sends `rounds` distinct 64-byte requests one at a time and expects each
    /// reversed reply (exactly 64 bytes are read: the server's next messages may follow it).
    static func exchange(_ stream: TCPStream, rounds: Int) async throws {
        for round in 0..<rounds {
            let request = (0..<64).map { UInt8(truncatingIfNeeded: $0 &+ round) }
            try await stream.write(request)
            var reply: [UInt8] = []
            while reply.count < 64 {
                guard let chunk = try await stream.read(maximumLength: 64 - reply.count) else { break }
                reply += chunk
            }
            #expect(reply == Array(request.reversed()), "round \(round)")
        }
    }
}
