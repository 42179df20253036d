import Locking
import NetTestSupport
import Testing
@testable import WireNet

/// `TCPListener.acceptEach(_:)`: every connection goes to the handler on the loop thread, none is
/// lost or handed twice, each works as a stream, and the call ends when the listener or the node
/// closes (its cancellation is in WireNetAPITests' CancellationTests).
@Suite("Listener hands each connection to a handler", .serialized)
struct ListenerAcceptEachTests {
    @Test(.timeLimit(.minutes(1))) func everyConnectionReachesTheHandlerOnceAndWorks() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9150)
        let handed = Lock<[UInt16]>([])
        // Each accepted stream echoes one byte from a task of its own, then closes.
        let accepting = Task {
            try await listener.acceptEach { stream in
                handed.withLock { $0.append(stream.remoteAddress.port) }
                Task {
                    if let byte = try await stream.read(maximumLength: 1) { try await stream.write(byte) }
                    stream.close()
                }
            }
        }
        var dialled: [UInt16] = []
        for index in 0..<24 {
            let client = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9150)
            dialled.append(client.localAddress.port)
            try await client.write([UInt8(index)])
            #expect(try await client.read() == [UInt8(index)])
            #expect(try await client.read() == nil)
            client.close()
        }
        #expect(handed.withLock { $0 } == dialled)
        listener.close()
        try await accepting.value  // ends once the listener is closed
    }

    @Test(.timeLimit(.minutes(1))) func connectionsQueuedBeforeTheCallAreHandedOverAtOnce() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9151)
        var clients: [TCPStream] = []
        for _ in 0..<5 { clients.append(try await pair.client.dial(tcp: NodePair.serverAddress, port: 9151)) }
        let handed = Lock<[UInt16]>([])
        let accepting = Task {
            try await listener.acceptEach { stream in
                let count = handed.withLock { handed in
                    handed.append(stream.remoteAddress.port)
                    return handed.count
                }
                stream.close()
                if count == 5 { listener.close() }
            }
        }
        try await accepting.value
        #expect(Set(handed.withLock { $0 }) == Set(clients.map(\.localAddress.port)))
        #expect(handed.withLock { $0.count } == 5)
        for client in clients { client.close() }
    }

    @Test(.timeLimit(.minutes(1))) func closingTheNodeEndsTheCall() async throws {
        let pair = try await NodePair.start()
        let listener = try await pair.server.listen(tcp: 9152)
        let accepting = Task { try await listener.acceptEach { _ in } }
        try await Task.sleep(for: .milliseconds(50))
        await pair.close()
        try await accepting.value
    }
}
