import NIOCore
import NIOPosix
import WireNet

/// A SOCKS5 front door on loopback whose every CONNECT is dialled through the node: the way to give
/// an HTTP client that cannot take a custom connection factory (AsyncHTTPClient, URLSession-style
/// clients, curl) a path over the tunnel.
///
/// ```swift
/// let front = try await SOCKSFront.start(node: node)
/// let client = HTTPClient(configuration: .init(proxy: .socksServer(host: "127.0.0.1", port: front.port)))
/// let response = try await client.get(url: "http://100.64.0.2:8000/").get()
/// ```
///
/// The client's connection to the front stays on loopback; from the front on, bytes travel on a
/// ``TCPStream``, with backpressure both ways (each side is read only as fast as the other side
/// takes the bytes), half-close carried across (a FIN either way becomes a FIN on the other), and
/// either side's reset or close ending the other.
///
/// Requests are answered per RFC 1928: only CONNECT (05 01), only "no authentication" (method 00);
/// the target may be an IPv4 or IPv6 address or a name (passed to ``Node/dial(tcp:port:timeout:)``
/// as is). Failures are reported with the RFC's reply codes (refused 05, unreachable 04, …).
///
/// - Important: any process on this machine that can reach the loopback port can use the front.
///   Bind it only where that is acceptable, and close it when done.
public final class SOCKSFront: Sendable {
    /// The loopback port the front listens on.
    public let port: Int
    private let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let task: Task<Void, Never>

    private init(port: Int, server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, task: Task<Void, Never>) {
        self.port = port
        self.server = server
        self.task = task
    }

    /// Listens on `host`:`port` (an ephemeral loopback port by default) and serves until ``close()``.
    public static func start(node: Node, host: String = "127.0.0.1", port: Int = 0,
                             connectTimeout: Duration = .seconds(10),
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> SOCKSFront {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        let boundPort = server.channel.localAddress?.port ?? port
        let task = Task<Void, Never> {
            _ = try? await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { clients in
                    for try await client in clients {
                        group.addTask { await SOCKSSession(node: node, connectTimeout: connectTimeout).run(client) }
                    }
                }
            }
        }
        return SOCKSFront(port: boundPort, server: server, task: task)
    }

    /// Stops accepting and ends every session.
    public func close() {
        server.channel.close(promise: nil)
        task.cancel()
    }
}

/// One client of a ``SOCKSFront``: the RFC 1928 greeting and request, then the splice.
struct SOCKSSession: Sendable {
    let node: Node
    let connectTimeout: Duration

    /// Reply codes, RFC 1928 §6.
    enum Reply: UInt8 {
        case succeeded = 0x00
        case generalFailure = 0x01
        case networkUnreachable = 0x03
        case hostUnreachable = 0x04
        case connectionRefused = 0x05
        case ttlExpired = 0x06
        case commandNotSupported = 0x07
        case addressTypeNotSupported = 0x08
    }

    struct ProtocolViolation: Error {}

    func run(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await client.executeThenClose { inbound, outbound in
            var reader = Reader(iterator: inbound.makeAsyncIterator())
            // Greeting: VER NMETHODS METHODS (RFC 1928 §3).
            let greeting = try await reader.take(2)
            guard greeting[0] == 5 else { return }
            let methods = try await reader.take(Int(greeting[1]))
            guard methods.contains(0x00) else {
                try await outbound.write(ByteBuffer(bytes: [5, 0xFF]))
                return
            }
            try await outbound.write(ByteBuffer(bytes: [5, 0x00]))
            // Request: VER CMD RSV ATYP DST.ADDR DST.PORT (§4).
            let request = try await reader.take(4)
            guard request[0] == 5 else { return }
            let host: String
            switch request[3] {
            case 0x01: host = try await reader.take(4).map(String.init).joined(separator: ".")
            case 0x04:
                let bytes = try await reader.take(16)
                host = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                    .joined(separator: ":")
            case 0x03:
                let length = try await reader.take(1)[0]
                host = String(decoding: try await reader.take(Int(length)), as: UTF8.self)
            default:
                try await reply(.addressTypeNotSupported, outbound)
                return
            }
            let portBytes = try await reader.take(2)
            let port = UInt16(portBytes[0]) << 8 | UInt16(portBytes[1])
            guard request[1] == 0x01 else {
                try await reply(.commandNotSupported, outbound)
                return
            }
            let stream: TCPStream
            do {
                stream = try await node.dial(tcp: host, port: port, timeout: connectTimeout)
            } catch let error as NodeError {
                try await reply(Self.reply(for: error), outbound)
                return
            } catch {
                try await reply(.generalFailure, outbound)
                return
            }
            try await reply(.succeeded, outbound)
            await Splice.run(stream, channel: client.channel, leftover: reader.leftover, &reader.iterator, outbound)
        }
    }

    static func reply(for error: NodeError) -> Reply {
        switch error {
        case .connectionRefused: return .connectionRefused
        case .noRouteToHost: return .networkUnreachable
        case .unresolvableHost, .timedOut: return .hostUnreachable
        default: return .generalFailure
        }
    }

    private func reply(_ code: Reply, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        // BND.ADDR 0.0.0.0:0: the client does not need to know where the tunnel side is bound.
        try await outbound.write(ByteBuffer(bytes: [5, code.rawValue, 0, 1, 0, 0, 0, 0, 0, 0]))
    }

    /// Reads exact byte counts from the client's inbound stream, keeping what came after.
    struct Reader {
        var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        var leftover: [UInt8] = []

        mutating func take(_ count: Int) async throws -> [UInt8] {
            while leftover.count < count {
                guard let buffer = try await iterator.next() else { throw ProtocolViolation() }
                leftover += buffer.readableBytesView
            }
            defer { leftover.removeFirst(count) }
            return Array(leftover[..<count])
        }
    }
}
