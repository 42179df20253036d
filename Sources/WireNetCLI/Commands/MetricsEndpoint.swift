#if CLI  // The command itself needs swift-argument-parser (and --metrics swift-prometheus): Package.swift.
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Synchronization
import WireNet
import WireNetMetrics

/// `wirenet up --metrics HOST:PORT`: the node's metrics (``NodeMetrics``, through swift-metrics) in
/// the Prometheus text format at `http://HOST:PORT/metrics`, sampled fresh at every scrape.
final class MetricsEndpoint: Sendable {
    let address: String
    private let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
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
    static func start(address: String, node: Node,
                      forwarding: @escaping @Sendable () -> [ForwardingRuleSample] = { [] }) async throws -> MetricsEndpoint {
        let (host, port) = try parse(address)
        let registry = Self.registry
        let metrics = NodeMetrics(node: node)
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw CommandFailure("--metrics \(address): cannot listen: \(error)")
        }
        let task = Task<Void, Never> {
            _ = try? await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { try? await serve(connection, metrics: metrics, forwarding: forwarding, registry: registry) }
                    }
                }
            }
        }
        return MetricsEndpoint(address: address, server: server, task: task)
    }

    private init(address: String,
                 server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>,
                 task: Task<Void, Never>) {
        self.address = address
        self.server = server
        self.task = task
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
                              metrics: NodeMetrics, forwarding: @Sendable () -> [ForwardingRuleSample],
                              registry: PrometheusCollectorRegistry) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: NIOHTTP1.HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let request): head = request
                case .body: break
                case .end:
                    guard let request = head else { continue }
                    let status: HTTPResponseStatus
                    var body = ByteBuffer()
                    if request.method == .GET && (request.uri == "/metrics" || request.uri.hasPrefix("/metrics?")) {
                        try? await metrics.sample()
                        metrics.record(forwarding: forwarding())
                        body.writeBytes(registry.emitToBuffer())
                        status = .ok
                    } else {
                        body.writeString("not found: the metrics are at /metrics\n")
                        status = .notFound
                    }
                    let headers: HTTPHeaders = ["Content-Type": "text/plain; version=0.0.4; charset=utf-8",
                                                "Content-Length": "\(body.readableBytes)"]
                    try await outbound.write(.head(NIOHTTP1.HTTPResponseHead(version: request.version, status: status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(body)))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }

    func close() {
        server.channel.close(promise: nil)
        task.cancel()
    }
}
#endif
