import Locking
import NetTestSupport
import Testing
@testable import WireNet

/// The forwarders' entry points that skip a task hand-off: `read(passingTo:)` gives the bytes to a
/// closure on the loop thread first and the caller only what it left; `write(_:resuming:)` queues
/// from any thread. Checked by content (sha256 of 1 MiB through both), and by what the closure took.
@Suite("Stream hand-offs without a task", .serialized)
struct StreamHandOffTests {
    @Test(.timeLimit(.minutes(1))) func aConsumerTakesPartAndTheCallerGetsTheRestInOrder() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9140)
        var generator = SeededBytes(seed: 0x13)
        let payload = (0..<(1 << 20)).map { _ in generator.next() }
        let sender = Task {
            guard let stream = try await listener.accept() else { return }
            var offset = 0
            while offset < payload.count {
                let end = min(offset + 7_000, payload.count)
                // write(_:resuming:) from a thread that is not a task's own way of writing.
                try await withCheckedThrowingContinuation { stream.write(Array(payload[offset..<end]), resuming: $0) }
                offset = end
            }
            try await stream.shutdownWrite()
            stream.close()
        }
        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9140)
        // The consumer takes the first half of every chunk (at most 1000 bytes) on the loop thread.
        let taken = Lock<[UInt8]>([])
        var received: [UInt8] = []
        var consumedCalls = 0
        while let rest = try await stream.read(passingTo: { bytes in
            let count = min(bytes.count / 2, 1000)
            taken.withLock { $0 += bytes[0..<count] }
            return count
        }) {
            // Each chunk: what the consumer took, then the rest, in stream order.
            received += taken.withLock { held in
                defer { held = [] }
                return held
            }
            received += rest
            consumedCalls += 1
        }
        received += taken.withLock { $0 }
        stream.close()
        try await sender.value
        #expect(consumedCalls > 0)
        #expect(received.count == payload.count)
        var got = SHA256Digest(), sent = SHA256Digest()
        got.update(received)
        sent.update(payload)
        #expect(got.finish() == sent.finish())
    }

    @Test(.timeLimit(.minutes(1))) func aConsumerThatTakesEverythingLeavesAnEmptyChunkNotTheEnd() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9141)
        let server = Task {
            guard let stream = try await listener.accept() else { return }
            try await stream.write([1, 2, 3, 4])
            try await stream.shutdownWrite()
            stream.close()
        }
        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9141)
        let taken = Lock<[UInt8]>([])
        var results: [[UInt8]] = []
        while let rest = try await stream.read(passingTo: { bytes in
            taken.withLock { $0 += bytes }
            return bytes.count
        }) {
            results.append(rest)
        }
        stream.close()
        try await server.value
        #expect(taken.withLock { $0 } == [1, 2, 3, 4])
        #expect(results.allSatisfy { $0.isEmpty })
        #expect(!results.isEmpty)
    }
}

/// Deterministic bytes from a seed (xorshift64*).
private struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt8 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return UInt8(truncatingIfNeeded: (state &* 2_685_821_657_736_338_717) >> 56)
    }
}
