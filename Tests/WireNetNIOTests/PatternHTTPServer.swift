import NIOCore
import NIOHTTP1
import NetTestSupport
import Synchronization
import WireNet
import WireNetNIO

/// A small HTTP/1.1 server written the way NIO's own examples are (`configureHTTPServerPipeline` +
/// `NIOAsyncChannel`), served on the tunnel by ``WireNetServerBootstrap``:
/// - `GET /` — a greeting;
/// - `GET /bytes/N` — N bytes of 0, 1, …, 250, 0, 1, … in 64 KiB writes (writes wait for the channel's
///   writability, so a slow client slows the server);
/// - `POST /echo` — the request body streamed back, chunked, as it arrives.
final class PatternHTTPServer: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Responses that ended because the client went away mid-body.
    let aborted = Atomic<Int>(0)

    func bind(node: Node, port: UInt16) async throws -> NIOAsyncChannel<Connection, Never> {
        try await WireNetServerBootstrap(node: node).bind(port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                return try Connection(wrappingChannelSynchronously: channel)
            }
        }
    }

    func serve(_ server: NIOAsyncChannel<Connection, Never>) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                try await withTaskCancellationHandler {
                    for try await connection in connections {
                        group.addTask { try? await self.handle(connection) }
                    }
                } onCancel: {
                    server.channel.close(promise: nil)
                }
            }
        }
    }

    private func handle(_ connection: Connection) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var request: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let head):
                    request = head
                    if head.method == .POST {
                        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .ok,
                                                                        headers: ["Transfer-Encoding": "chunked"])))
                    }
                case .body(let buffer):
                    if request?.method == .POST { try await outbound.write(.body(.byteBuffer(buffer))) }
                case .end:
                    guard let head = request else { continue }
                    request = nil
                    if head.method == .POST {
                        try await outbound.write(.end(nil))
                    } else {
                        try await respond(to: head, outbound)
                    }
                }
            }
        }
    }

    private func respond(to head: HTTPRequestHead, _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        if head.uri == "/" {
            let body = ByteBuffer(string: "hello from the tunnel\n")
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .ok,
                                                            headers: ["Content-Length": "\(body.readableBytes)"])))
            try await outbound.write(.body(.byteBuffer(body)))
            try await outbound.write(.end(nil))
        } else if head.uri.hasPrefix("/bytes/"), let count = Int(head.uri.dropFirst("/bytes/".count)) {
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .ok,
                                                            headers: ["Content-Length": "\(count)"])))
            do {
                var sent = 0
                while sent < count {
                    let length = min(64 * 1024, count - sent)
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: Self.pattern[(sent % 251)..<(sent % 251 + length)]))))
                    sent += length
                }
                try await outbound.write(.end(nil))
            } catch {
                aborted.add(1, ordering: .relaxed)
                throw error
            }
        } else {
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .notFound,
                                                            headers: ["Content-Length": "0"])))
            try await outbound.write(.end(nil))
        }
    }

    /// 64 KiB of the pattern from every phase 0..<251: a chunk starting at byte `n` is
    /// `pattern[(n % 251)...]` (precomputed: a debug build's per-byte closure is slower than the tunnel).
    static let pattern: [UInt8] = (0..<(64 * 1024 + 251)).map { UInt8($0 % 251) }

    /// The SHA-256 (hex) of the first `count` bytes of the pattern.
    static func sha256(count: Int) -> String {
        var digest = SHA256Digest()
        let block = (0..<(251 * 1024)).map { UInt8($0 % 251) }
        var left = count
        while left > 0 {
            let length = min(left, block.count)
            digest.update(Array(block[..<length]))
            left -= length
        }
        return hex(digest.finish())
    }
}
