import Foundation
import Hummingbird
import Synchronization
import WireNet

/// A Hummingbird 2 app served on the tunnel.
///
/// Usage: `HummingbirdOnTunnel <wg-quick.conf> [port]` (port 80 by default). Routes:
/// - `GET /` — a greeting;
/// - `GET /bytes/:count` — `count` bytes of the pattern 0, 1, …, 250, 0, 1, … streamed in 64 KiB
///   chunks (a client that hangs up mid-body ends the handler: `GET /aborted` counts those);
/// - `POST /echo` — the request body streamed back as it arrives (both directions at once).
@main
struct HummingbirdOnTunnel {
    static let aborted = Atomic<Int>(0)

    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2, let port = arguments.count > 2 ? UInt16(arguments[2]) : 80 else {
            FileHandle.standardError.write(Data("usage: HummingbirdOnTunnel <wg-quick.conf> [port]\n".utf8))
            exit(2)
        }
        let node = Node(configuration: try NodeConfiguration(contentsOfFile: arguments[1]))
        try await node.start()

        let router = Router()
        router.get("/") { _, _ in "hello from the tunnel\n" }
        router.get("/bytes/:count") { _, context -> Response in
            let count = try context.parameters.require("count", as: Int.self)
            return Response(status: .ok, body: ResponseBody(contentLength: count) { writer in
                do {
                    try await writer.write(patternChunks(count: count))
                    try await writer.finish(nil)
                } catch {
                    aborted.add(1, ordering: .relaxed)
                    throw error
                }
            })
        }
        router.post("/echo") { request, _ -> Response in
            Response(status: .ok, body: ResponseBody(asyncSequence: request.body))
        }
        router.get("/aborted") { _, _ in "\(aborted.load(ordering: .relaxed))\n" }

        let app = Application(router: router)
        try await app.run(onTunnel: node, port: port)
    }

    /// 64 KiB of the pattern from each phase: the chunk at offset `n` is `pattern[(n % 251)...]`.
    static let pattern: [UInt8] = (0..<(64 * 1024 + 251)).map { UInt8($0 % 251) }

    /// `count` bytes of 0…250 repeating, as 64 KiB buffers produced on demand.
    static func patternChunks(count: Int) -> some AsyncSequence<ByteBuffer, Never> {
        let chunk = 64 * 1024
        return (0..<((count + chunk - 1) / chunk)).asyncElements.map { index -> ByteBuffer in
            let start = index * chunk
            let length = min(chunk, count - start)
            return ByteBuffer(bytes: pattern[(start % 251)..<(start % 251 + length)])
        }
    }
}

/// A synchronous sequence as an `AsyncSequence`.
struct AsyncSyncSequence<Base: Sequence & Sendable>: AsyncSequence, Sendable where Base.Element: Sendable {
    let base: Base
    struct AsyncIterator: AsyncIteratorProtocol {
        var iterator: Base.Iterator
        mutating func next() async -> Base.Element? { iterator.next() }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(iterator: base.makeIterator()) }
}

extension Sequence where Self: Sendable, Element: Sendable {
    var asyncElements: AsyncSyncSequence<Self> { AsyncSyncSequence(base: self) }
}
