import Testing
@testable import WireNet

/// Issue 14, as a new user met it: two nodes in one process, both ends of a connection write 10 MiB
/// and nobody reads. The two stacks used to trade ACKs as fast as the tunnel carried them (about
/// 2,500 WireGuard packets per second each way) for as long as the stall lasted.
@Suite("A stalled connection between two nodes", .serialized)
struct NodeStalledConnectionTests {
    static let size = 10 << 20

    @Test("RFC 9293 §3.8.6.1 / §3.10.7.4: both ends write 10 MiB, nobody reads: the tunnel goes quiet, and reading then completes both transfers")
    func bothWriteNobodyReads() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9100)
        let client = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9100)
        let server = try #require(try await listener.accept())
        let clientWriter = Task { try await Self.writeAll(client) }
        let serverWriter = Task { try await Self.writeAll(server) }

        // Both windows close once about 2 MiB went each way (a second or so; longer on a loaded
        // machine): wait until the tunnel carries less than 16 KiB in a second (at most 30 s), then
        // measure it over five seconds.
        var before = try await Self.tunnelBytesSent(pair)
        for _ in 0..<30 {
            try await Task.sleep(for: .seconds(1))
            let now = try await Self.tunnelBytesSent(pair)
            defer { before = now }
            if now - before < 16 * 1024 { break }
        }
        try await Task.sleep(for: .seconds(5))
        let quiet = try await Self.tunnelBytesSent(pair) - before
        // A few persist probes and their ACKs (about 100 bytes each on the wire) are expected.
        #expect(quiet < 32 * 1024, "\(quiet) bytes through the tunnel in 5 s of stall")
        print("stalled nodes: \(quiet) tunnel bytes in 5 s")

        async let readByClient = Self.readExactly(client)
        async let readByServer = Self.readExactly(server)
        #expect(try await readByClient == Self.size)
        #expect(try await readByServer == Self.size)
        try await clientWriter.value
        try await serverWriter.value
        client.close()
        server.close()
        listener.close()
    }

    static func writeAll(_ stream: TCPStream) async throws {
        let chunk = [UInt8](repeating: 0x42, count: 64 << 10)
        var sent = 0
        while sent < size {
            try await stream.write(chunk)
            sent += chunk.count
        }
    }

    static func readExactly(_ stream: TCPStream) async throws -> Int {
        var total = 0
        while total < size, let chunk = try await stream.read() { total += chunk.count }
        return total
    }

    /// Transport bytes both nodes have sent to their peer.
    static func tunnelBytesSent(_ pair: NodePair) async throws -> UInt64 {
        let server = try await pair.server.status().peers.reduce(0) { $0 + $1.sentBytes }
        let client = try await pair.client.status().peers.reduce(0) { $0 + $1.sentBytes }
        return server + client
    }
}
