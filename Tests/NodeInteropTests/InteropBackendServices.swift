import Foundation
import NetTestSupport
import Wire
import WireNet

/// An HTTP server on the node's side of the tunnel, reached by the peer at 100.64.7.1:`port`.
struct ServedHTTP: Sendable {
    let server: HTTPServer
    /// The library's `--serve` (userspace stack only): the node's listener joined to the server.
    let forward: LoopbackForward?

    /// Errors the forward saw while copying (none with a kernel TUN: the host's stack serves).
    var errors: [String] { forward?.errors ?? [] }

    func stop() {
        forward?.close()
        server.stop()
    }
}

extension Interop {
    /// Serves `directory` over HTTP on the node's side at 100.64.7.1:`port`: with the userspace stack,
    /// http.server on this host's loopback behind the node's listener (``LoopbackForward``); with the
    /// kernel TUN, http.server bound to 100.64.7.1 in ``hostNamespace``, where the TUN interface is.
    func serveHTTP(_ directory: URL, port: UInt16) async throws -> ServedHTTP {
        if let hostNamespace {
            return ServedHTTP(server: try HTTPServer(serving: directory, address: Self.nodeV4, port: port, in: hostNamespace), forward: nil)
        }
        let server = try HTTPServer(serving: directory, address: "127.0.0.1", port: try freeLoopbackPort())
        do {
            return ServedHTTP(server: server, forward: try await serve(port: port, to: server.port))
        } catch {
            server.stop()
            throw error
        }
    }

    /// GETs `path` from an HTTP server behind the peer, from the node's side: through `node.dial`
    /// with the userspace stack (``httpGet(host:port:path:progress:)``), with curl in
    /// ``hostNamespace`` over the kernel TUN. `file` names the directory curl may write into.
    ///
    /// - Returns: the body's length and SHA-256.
    func fetch(host: String, port: UInt16, path: String, into file: RandomFile) async throws -> (length: Int, sha256: String) {
        guard let hostNamespace else { return try await httpGet(host: host, port: port, path: path) }
        let destination = file.directory.appendingPathComponent("fetched-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: destination) }
        let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)"
        let output = try await detached {
            try hostNamespace.exec(["curl", "-sS", "--fail", "--max-time", "60", "-o", destination.path, "-w", "%{size_download}", url])
        }
        guard let size = Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw InteropFailure("curl printed: \(output)")
        }
        return (size, try SHA256Digest.ofFile(destination))
    }
}
