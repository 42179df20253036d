import Wire

/// A TCP connection owned by the application (from `connect` or `accept`).
public struct TCPSocketHandle: Hashable, Sendable {
    let index: Int32
    let generation: UInt32
}

/// A listening TCP socket.
public struct TCPListenerHandle: Hashable, Sendable {
    let index: Int32
    let generation: UInt32
}

/// A bound UDP socket.
public struct UDPSocketHandle: Hashable, Sendable {
    let index: Int32
    let generation: UInt32
}

/// Any socket, as reported with events.
public enum SocketHandle: Hashable, Sendable {
    case tcp(TCPSocketHandle)
    case listener(TCPListenerHandle)
    case udp(UDPSocketHandle)
}

/// Readiness changes reported by `IPStack.pollEvents(_:)`.
public struct SocketEvents: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Data, end of stream or a datagram can be read.
    public static let readable = SocketEvents(rawValue: 1 << 0)
    /// Send space became available.
    public static let writable = SocketEvents(rawValue: 1 << 1)
    /// An active open completed.
    public static let connected = SocketEvents(rawValue: 1 << 2)
    /// A listener has a connection to accept.
    public static let acceptable = SocketEvents(rawValue: 1 << 3)
    /// The connection ended; `IPStack.status(of:)` tells how.
    public static let closed = SocketEvents(rawValue: 1 << 4)
}

/// Misuse of the socket API or a resource limit.
public enum SocketError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The port (and address) is already bound or listened on.
    case addressInUse(IPEndpoint)
    /// The address is not one of the stack's addresses, or no address of that family exists.
    case addressNotAvailable(IPAddress)
    /// The handle was closed or never existed.
    case invalidHandle
    /// The connection table is full (`IPStackConfiguration.maximumConnections`).
    case tooManyConnections
    /// No ephemeral port is free for this destination.
    case noEphemeralPort
    /// A datagram does not fit in one packet at the configured MTU.
    case messageTooLong(size: Int, maximum: Int)
    /// The output queue is full; try again after draining packets.
    case noBufferSpace

    public var description: String {
        switch self {
        case let .addressInUse(endpoint): return "address in use: \(endpoint)"
        case let .addressNotAvailable(address): return "address not owned by this stack: \(address)"
        case .invalidHandle: return "socket handle is closed or invalid"
        case .tooManyConnections: return "connection table is full"
        case .noEphemeralPort: return "no free ephemeral port"
        case let .messageTooLong(size, maximum): return "datagram of \(size) bytes exceeds \(maximum)"
        case .noBufferSpace: return "output queue full"
        }
    }
}

/// What the application can learn about a TCP connection.
public struct TCPSocketStatus: Hashable, Sendable {
    public var state: TCPState
    public var error: TCPConnectionError?
    public var readableBytes: Int
    public var writableBytes: Int
    /// The peer's FIN was read past: reads return nothing more.
    public var isAtEndOfStream: Bool
    public var local: IPEndpoint
    public var remote: IPEndpoint
}
