#if CLI  // The command itself needs swift-argument-parser (and --metrics swift-prometheus): Package.swift.
import Metrics
import Prometheus
import WireNet
import WireNetMetrics

/// `wirenet up --metrics HOST:PORT`: the node's metrics (``NodeMetrics``, through swift-metrics) in
/// the Prometheus text format at `http://HOST:PORT/metrics`, sampled fresh at every scrape.
///
/// HTTP/1.1 with one request per connection (`Connection: close`), served on the command's own socket
/// reactor (``HostListener``, ``HostStream``) and request parser (``HTTPRequestHead``), as `wirenet
/// demo`'s server is. It used SwiftNIO's HTTP server until issue 14: NIO was linked into every
/// `wirenet` for this option alone, and its type and conformance descriptors were read by the Swift
/// runtime's start-up lookups of every `wirenet up` (Docs/performance.md, idle memory).
final class MetricsEndpoint: Sendable {
    let address: String
    private let listener: HostListener
    private let connections = ConnectionTracker()
    private let task: Task<Void, Never>

    /// The process's Prometheus registry; swift-metrics can be bootstrapped once per process.
    private static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// Parses `HOST:PORT` (`127.0.0.1:9090`, `[::1]:9090`).
    static func parse(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port) else {
            throw CommandFailure("--metrics \(text): expected HOST:PORT, e.g. 127.0.0.1:9090")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw CommandFailure("--metrics \(text): the host is missing, e.g. 127.0.0.1:\(port)") }
        return (host, port)
    }

    /// Listens on `address` and answers `GET /metrics` from `node`'s counters and the forwarding
    /// rules' (`forwarding`, called at each scrape).
    static func start(address: String, node: Node, reactor: SocketReactor,
                      forwarding: @escaping @Sendable () -> [ForwardingRuleSample] = { [] }) async throws -> MetricsEndpoint {
        let (host, port) = try parse(address)
        // Bootstraps swift-metrics first: NodeMetrics makes its metrics with the factory in place.
        _ = registry
        let listener: HostListener
        do {
            let socketAddress = try await SocketAddress.resolve(host: host, port: UInt16(port))
            listener = try HostListener(address: socketAddress, reactor: reactor)
        } catch {
            throw CommandFailure("--metrics \(address): cannot listen: \(error)")
        }
        return MetricsEndpoint(address: address, listener: listener, metrics: NodeMetrics(node: node), forwarding: forwarding)
    }

    private init(address: String, listener: HostListener, metrics: NodeMetrics,
                 forwarding: @escaping @Sendable () -> [ForwardingRuleSample]) {
        self.address = address
        self.listener = listener
        let connections = self.connections
        task = Task {
            // The socket is released here, once no accept runs any more (HostListener.close()).
            defer { listener.close() }
            while true {
                let stream: HostStream?
                do {
                    stream = try await listener.accept()
                } catch {
                    // A failed accept (EMFILE, say) leaves the listener usable: try again shortly.
                    do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
                    continue
                }
                guard let stream else { return }
                connections.spawn {
                    do {
                        try await Self.serve(stream, metrics: metrics, forwarding: forwarding)
                        stream.close()
                        return true
                    } catch {
                        stream.close(reset: true)
                        return false
                    }
                }
            }
        }
    }

    /// Reads one request head and answers it.
    private static func serve(_ stream: HostStream, metrics: NodeMetrics,
                              forwarding: @Sendable () -> [ForwardingRuleSample]) async throws {
        var buffered: [UInt8] = []
        var headEnd: Int?
        while headEnd == nil {
            guard buffered.count <= HTTPRequestHead.maximumLength, let chunk = try await stream.read() else {
                return try await respond(stream, status: 400, reason: "Bad Request", body: Array("bad request\n".utf8))
            }
            buffered += chunk
            headEnd = endOfHead(in: buffered)
        }
        guard let head = try? HTTPRequestHead(parsing: buffered[..<(headEnd! - 4)]) else {
            return try await respond(stream, status: 400, reason: "Bad Request", body: Array("bad request\n".utf8))
        }
        let path = head.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard path == "/metrics" else {
            return try await respond(stream, status: 404, reason: "Not Found", body: Array("not found: the metrics are at /metrics\n".utf8))
        }
        guard head.method == "GET" || head.method == "HEAD" else {
            return try await respond(stream, status: 405, reason: "Method Not Allowed", body: Array("method not allowed: GET /metrics\n".utf8))
        }
        try? await metrics.sample()
        metrics.record(forwarding: forwarding())
        try await respond(stream, status: 200, reason: "OK", body: registry.emitToBuffer(), headOnly: head.method == "HEAD")
    }

    private static func respond(_ stream: HostStream, status: Int, reason: String, body: [UInt8], headOnly: Bool = false) async throws {
        let head = Array("""
            HTTP/1.1 \(status) \(reason)\r
            Content-Type: text/plain; version=0.0.4; charset=utf-8\r
            Content-Length: \(body.count)\r
            Connection: close\r
            \r

            """.utf8)
        try await stream.write(headOnly ? head : head + body)
        stream.shutdownWrite()
    }

    func close() {
        listener.interrupt()
        task.cancel()
        connections.cancelAll()
    }
}
#endif
