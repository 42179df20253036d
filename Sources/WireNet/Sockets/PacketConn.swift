import NetStack
import Synchronization
import Wire

/// A UDP socket on the node's tunnel addresses: send datagrams to, and receive them from, any address
/// the tunnel reaches (Go's `net.PacketConn`).
public final class PacketConn: Sendable {
    /// The local port datagrams are sent from and received on.
    public let localPort: UInt16
    /// The largest payload one datagram can carry (the tunnel MTU less the IPv6 and UDP headers);
    /// larger sends throw ``NodeError/datagramTooLarge(size:limit:)``.
    public let maximumDatagramSize: Int

    private let engine: Engine
    private let stack: UserspaceStack
    private let socket: UDPSocketHandle
    private let isClosed = Atomic<Bool>(false)

    init(engine: Engine, stack: UserspaceStack, socket: UDPSocketHandle, localPort: UInt16, maximumDatagramSize: Int) {
        self.engine = engine
        self.stack = stack
        self.socket = socket
        self.localPort = localPort
        self.maximumDatagramSize = maximumDatagramSize
    }

    /// Sends one datagram to `destination`.
    ///
    /// - Throws: ``NodeError/datagramTooLarge(size:limit:)``, ``NodeError/noRouteToHost(_:)`` when no
    ///   peer's allowed IPs contain the destination, ``NodeError/closed``.
    public func send<Bytes: Collection>(_ bytes: Bytes, to destination: IPEndpoint) async throws(NodeError) where Bytes.Element == UInt8 {
        guard !isClosed.load(ordering: .relaxed) else { throw NodeError.closed }
        let payload = Array(bytes)
        let (stack, socket) = (self.stack, self.socket)
        let error = try await engine.query { engine -> NodeError? in
            guard engine.device.route(for: destination.address) != nil else {
                return .noRouteToHost(destination.address.description)
            }
            do throws(NodeError) { try stack.sendUDP(socket, to: destination, payload); return nil } catch { return error }
        }
        if let error { throw error }
    }

    /// The next datagram and its sender, waiting until one arrives.
    ///
    /// Datagrams that arrive while nobody receives are queued up to a bound (then dropped, as UDP is).
    /// - Throws: ``NodeError/closed`` once the socket or the node is closed; `CancellationError` when the
    ///   task is cancelled while waiting, or at once if it already was (no datagram is consumed then).
    ///   Untyped for that `CancellationError` (see ``NodeError``).
    public func receive() async throws -> (bytes: [UInt8], from: IPEndpoint) {
        guard !isClosed.load(ordering: .relaxed) else { throw NodeError.closed }
        let (stack, socket) = (self.stack, self.socket)
        let datagram = try await engine.suspend { _, continuation in
            let id = stack.makeCallID()
            stack.receiveUDP(socket, id: id, continuation: continuation)
            return { _ in stack.cancel(id, on: socket) }
        }
        guard let datagram else { throw NodeError.closed }
        return datagram
    }

    /// Closes the socket; a waiting ``receive()`` throws ``NodeError/closed``.
    public func close() {
        guard !isClosed.exchange(true, ordering: .relaxed) else { return }
        let (stack, socket) = (self.stack, self.socket)
        engine.perform { _ in stack.close(socket) }
    }

    deinit { close() }
}
