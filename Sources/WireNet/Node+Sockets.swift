import NetStack
import Synchronization
import Wire

extension Node {
    /// Accepts TCP connections on `port` of every tunnel address of the node.
    ///
    /// - Parameter backlog: connections that completed the handshake but were not yet accepted;
    ///   more are refused until ``TCPListener/accept()`` catches up. As many may wait half-open; a
    ///   new SYN then replaces the oldest of them.
    /// - Throws: ``NodeError/portInUse(_:)``, ``NodeError/notStarted``, ``NodeError/closed``.
    public func listen(tcp port: UInt16, backlog: Int = 128) async throws(NodeError) -> TCPListener {
        let (engine, stack) = try running()
        let result = try await engine.query { _ in Result { () throws(NodeError) in try stack.listen(port: port, backlog: backlog) } }
        return TCPListener(engine: engine, stack: stack, listener: try result.get(), port: port)
    }

    /// Opens a TCP connection through the tunnel.
    ///
    /// - Parameters:
    ///   - host: a tailnet peer's name (short host name or full name, see ``resolve(host:)``), or an
    ///     IPv4 or IPv6 address inside the tunnel (a peer's allowed IPs must contain it).
    ///   - timeout: how long to wait for the handshake before giving up.
    /// - Throws: ``NodeError/noRouteToHost(_:)``, ``NodeError/connectionRefused(_:)``,
    ///   ``NodeError/timedOut``, ``NodeError/unresolvableHost(_:)`` for a host that is not an address;
    ///   `CancellationError` when the task is cancelled during the handshake (the attempt is reset), or
    ///   at once if it already was (no SYN is sent then). Untyped for that `CancellationError` (see
    ///   ``NodeError``); every other error is a ``NodeError``.
    public func dial(tcp host: String, port: UInt16, timeout: Duration = .seconds(10)) async throws -> TCPStream {
        guard let address = resolve(host: host) else { throw NodeError.unresolvableHost(host) }
        return try await dial(tcp: IPEndpoint(address, port), timeout: timeout)
    }

    /// Opens a TCP connection through the tunnel to `endpoint` (see ``dial(tcp:port:timeout:)``).
    public func dial(tcp endpoint: IPEndpoint, timeout: Duration = .seconds(10)) async throws -> TCPStream {
        let (engine, stack) = try running()
        let info = try await engine.suspend { (engine, continuation: CheckedContinuation<UserspaceStack.StreamInfo, any Error>) in
            guard engine.device.route(for: endpoint.address) != nil
                || engine.tailnet?.activate(routing: endpoint.address, in: engine) == true else {
                continuation.resume(throwing: NodeError.noRouteToHost(endpoint.address.description))
                return nil
            }
            guard let socket = stack.connect(to: endpoint, timeout: timeout, continuation: .task(continuation)) else { return nil }
            return { _ in stack.cancelConnect(socket, with: CancellationError()) }
        }
        return TCPStream(engine: engine, stack: stack, info: info)
    }

    /// Opens a UDP socket on `port` (0: an ephemeral port) of the node's tunnel addresses.
    ///
    /// - Throws: ``NodeError/portInUse(_:)``, ``NodeError/notStarted``, ``NodeError/closed``.
    public func listenPacket(udp port: UInt16 = 0) async throws(NodeError) -> PacketConn {
        let (engine, stack) = try running()
        let mtu = configuration.mtu
        let result = try await engine.query { _ in
            Result { () throws(NodeError) -> (UDPSocketHandle, UInt16) in
                let socket = try stack.bindUDP(port: port)
                let local = (try? stack.stack.localPort(of: socket)) ?? port
                return (socket, local)
            }
        }
        let (socket, localPort) = try result.get()
        // IPv6 header (40) + UDP header (8): the smaller of the two families' limits.
        return PacketConn(engine: engine, stack: stack, socket: socket, localPort: localPort, maximumDatagramSize: mtu - 48)
    }
}
