import Testing
import WireNet

/// `for try await chunk in stream`: every byte in order, chunks never empty nor larger than a read's
/// default, and the loop ends when the peer shuts down its side.
@Suite("TCPStream as an AsyncSequence of chunks")
struct StreamSequenceTests {
    @Test func iteratingAStreamYieldsEveryByteInOrderAndEndsAtTheFIN() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let (client, server, _) = try await pair.connect(port: 7120)
        var random = SplitMix(seed: 0x7120)
        let payload = (0..<(3 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let writer = Task {
            try await client.write(payload)
            try await client.shutdownWrite()
        }
        let (received, chunks) = try await bounded(.seconds(30)) {
            var received: [UInt8] = []
            var chunks: [Int] = []
            for try await chunk in server {
                received += chunk
                chunks.append(chunk.count)
            }
            return (received, chunks)
        }
        try await writer.value
        #expect(received.count == payload.count)
        #expect(received == payload)
        #expect(chunks.allSatisfy { $0 > 0 && $0 <= TCPStream.defaultReadLength })
        #expect(chunks.count >= payload.count / TCPStream.defaultReadLength)
    }
}
