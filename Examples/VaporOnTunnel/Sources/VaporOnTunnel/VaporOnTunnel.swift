import Foundation
import NIOCore
import Synchronization
import Vapor
import WireNet
import WireNetNIO

/// A Vapor 4 app served on the tunnel.
///
/// Usage: `VaporOnTunnel <wg-quick.conf> [port]` (port 80 by default). The same routes as the
/// Hummingbird example: `GET /`, `GET /bytes/:count` (0…250 repeating, streamed), `POST /echo` (the
/// body streamed back as it arrives), `GET /aborted` (responses cut short by a client hanging up).
///
/// Vapor builds its HTTP pipeline inside its own `ServerBootstrap`, so it cannot be handed a tunnel
/// channel; instead it binds a unix socket in a private directory (the one changed line) and a
/// ``TunnelRelay`` carries the tunnel port to it.
@main
enum VaporOnTunnel {
    static let aborted = Atomic<Int>(0)
    static let pattern: [UInt8] = (0..<(64 * 1024 + 251)).map { UInt8($0 % 251) }

    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2, let port = arguments.count > 2 ? UInt16(arguments[2]) : 80 else {
            FileHandle.standardError.write(Data("usage: VaporOnTunnel <wg-quick.conf> [port]\n".utf8))
            exit(2)
        }
        let node = Node(configuration: try NodeConfiguration(contentsOfFile: arguments[1]))
        try await node.start()

        // Vapor reads its own command line; ours is not for it.
        let app = try await Application.make(Environment(name: "production", arguments: ["vapor"]))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vapor-on-tunnel-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let socket = directory.appendingPathComponent("http.sock").path
        app.http.server.configuration.address = .unixDomainSocket(path: socket)   // the bind

        app.get { _ in "hello from the tunnel\n" }
        app.get("bytes", ":count") { request -> Response in
            guard let count = request.parameters.get("count", as: Int.self), count >= 0 else { throw Abort(.badRequest) }
            return Response(status: .ok, body: .init(asyncStream: { writer in
                do {
                    var sent = 0
                    while sent < count {
                        let length = min(64 * 1024, count - sent)
                        try await writer.writeBuffer(ByteBuffer(bytes: pattern[(sent % 251)..<(sent % 251 + length)]))
                        sent += length
                    }
                    try await writer.write(.end)
                } catch {
                    aborted.add(1, ordering: .relaxed)
                    try? await writer.write(.error(error))
                }
            }, count: count))
        }
        app.on(.POST, "echo", body: .stream) { request -> Response in
            Response(status: .ok, body: .init(asyncStream: { writer in
                do {
                    for try await buffer in request.body { try await writer.writeBuffer(buffer) }
                    try await writer.write(.end)
                } catch {
                    try? await writer.write(.error(error))
                }
            }))
        }
        app.get("aborted") { _ in "\(aborted.load(ordering: .relaxed))\n" }

        try await app.startup()
        let relay = try await TunnelRelay.start(node: node, port: port,
                                                to: try SocketAddress(unixDomainSocketPath: socket))
        app.logger.info("serving on the tunnel", metadata: ["port": "\(port)"])
        try await app.running?.onStop.get()
        relay.close()
        try await app.asyncShutdown()
        await node.close()
        try? FileManager.default.removeItem(at: directory)
    }
}
