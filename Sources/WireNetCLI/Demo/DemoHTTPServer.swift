import Logging
import WireNet

/// What the demo's HTTP server answers to a request.
public enum DemoHTTPRoute: Equatable, Sendable {
    /// `GET /`: a small HTML page.
    case page
    /// `GET /bytes/N`: N bytes of `application/octet-stream`.
    case bytes(UInt64)
    /// Anything else: an error status and its reason phrase.
    case error(status: Int, reason: String)

    /// The most `/bytes/N` serves (1 TiB; more than any demo run moves).
    public static let maximumBytes: UInt64 = 1 << 40

    /// Routes a request head; `HEAD` is answered like `GET` without the body.
    public init(_ head: HTTPRequestHead) {
        guard head.method == "GET" || head.method == "HEAD" else {
            self = .error(status: 405, reason: "Method Not Allowed")
            return
        }
        let path = head.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if path == "/" {
            self = .page
        } else if path.hasPrefix("/bytes/"), let count = UInt64(path.dropFirst("/bytes/".count)) {
            self = count <= Self.maximumBytes ? .bytes(count) : .error(status: 400, reason: "Bad Request")
        } else {
            self = .error(status: 404, reason: "Not Found")
        }
    }
}

/// A tiny HTTP/1.1 server on a tunnel ``TCPListener``, for `wirenet demo`: one request per
/// connection (`Connection: close`), `GET /` and `GET /bytes/N` (see ``DemoHTTPRoute``).
final class DemoHTTPServer: Sendable {
    private let listener: TCPListener
    private let connections = ConnectionTracker()
    private let serverName: String
    private let logger: Logger

    /// One chunk of the `/bytes/N` body: a repeating alphabet, so a body is recognisable in a dump.
    private static let chunk: [UInt8] = (0..<(64 * 1024)).map { UInt8(ascii: "a") + UInt8($0 % 26) }

    init(listener: TCPListener, serverName: String, logger: Logger) {
        self.listener = listener
        self.serverName = serverName
        self.logger = logger
    }

    /// Serves until the listener is closed.
    func run() async {
        while let stream = try? await listener.accept() {
            connections.spawn { [self] in
                do {
                    try await serve(stream)
                    stream.close()
                    return true
                } catch {
                    stream.abort()
                    logger.debug("demo HTTP connection failed", metadata: ["error": "\(error)"])
                    return false
                }
            }
        }
    }

    func close() { listener.close() }

    private func serve(_ stream: TCPStream) async throws {
        var buffered: [UInt8] = []
        var headEnd: Int?
        while headEnd == nil {
            guard buffered.count <= HTTPRequestHead.maximumLength, let chunk = try await stream.read() else {
                try await respond(stream, .error(status: 400, reason: "Bad Request"), headOnly: false)
                return
            }
            buffered += chunk
            headEnd = endOfHead(in: buffered)
        }
        let route: DemoHTTPRoute
        let method: String
        do {
            let head = try HTTPRequestHead(parsing: buffered[..<(headEnd! - 4)])
            route = DemoHTTPRoute(head)
            method = head.method
        } catch {
            try await respond(stream, .error(status: 400, reason: "Bad Request"), headOnly: false)
            return
        }
        try await respond(stream, route, headOnly: method == "HEAD")
    }

    private func respond(_ stream: TCPStream, _ route: DemoHTTPRoute, headOnly: Bool) async throws {
        switch route {
        case .page:
            let body = Array(page(for: stream).utf8)
            try await stream.write(head(status: 200, reason: "OK", type: "text/html; charset=utf-8", length: UInt64(body.count)))
            if !headOnly { try await stream.write(body) }
        case .bytes(let count):
            try await stream.write(head(status: 200, reason: "OK", type: "application/octet-stream", length: count))
            guard !headOnly else { break }
            var remaining = count
            while remaining > 0 {
                let size = Int(min(remaining, UInt64(Self.chunk.count)))
                if size == Self.chunk.count { try await stream.write(Self.chunk) } else { try await stream.write(Self.chunk[0..<size]) }
                remaining -= UInt64(size)
            }
        case .error(let status, let reason):
            let body = Array("\(status) \(reason)\n".utf8)
            try await stream.write(head(status: status, reason: reason, type: "text/plain; charset=utf-8", length: UInt64(body.count)))
            if !headOnly { try await stream.write(body) }
        }
        try await stream.shutdownWrite()
    }

    private func head(status: Int, reason: String, type: String, length: UInt64) -> [UInt8] {
        Array("""
        HTTP/1.1 \(status) \(reason)\r
        Server: \(serverName)\r
        Content-Type: \(type)\r
        Content-Length: \(length)\r
        Connection: close\r
        \r

        """.utf8)
    }

    private func page(for stream: TCPStream) -> String {
        """
        <!doctype html>
        <title>WireNet demo</title>
        <h1>Hello from \(stream.localAddress.address) through WireGuard</h1>
        <p>You are \(stream.remoteAddress). This page came from a userspace TCP/IP stack inside the wirenet process.</p>
        <p>Try <a href="/bytes/1048576">/bytes/1048576</a>.</p>

        """
    }
}
