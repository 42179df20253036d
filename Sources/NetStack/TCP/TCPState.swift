/// The connection states of RFC 9293 §3.3.2.
public enum TCPState: String, Hashable, Sendable {
    case closed = "CLOSED"
    case listen = "LISTEN"
    case synSent = "SYN-SENT"
    case synReceived = "SYN-RECEIVED"
    case established = "ESTABLISHED"
    case finWait1 = "FIN-WAIT-1"
    case finWait2 = "FIN-WAIT-2"
    case closeWait = "CLOSE-WAIT"
    case closing = "CLOSING"
    case lastAck = "LAST-ACK"
    case timeWait = "TIME-WAIT"

    /// States after the three-way handshake completed (RFC 9293 §3.5 "synchronized states").
    public var isSynchronized: Bool {
        switch self {
        case .closed, .listen, .synSent, .synReceived: return false
        default: return true
        }
    }

    /// States in which data from the peer is still accepted (RFC 9293 §3.10.7.4, "seventh, process the
    /// segment text").
    var acceptsData: Bool {
        self == .established || self == .finWait1 || self == .finWait2
    }

    /// States in which this side may still send new data.
    var canSendData: Bool { self == .established || self == .closeWait }
}

/// Why a connection ended abnormally.
public enum TCPConnectionError: Error, Hashable, Sendable {
    /// The peer sent an acceptable RST (RFC 9293 §3.10.7.4, RFC 5961 §3.2).
    case connectionReset
    /// The peer refused the connection (RST in SYN-SENT, RFC 9293 §3.10.7.3).
    case connectionRefused
    /// Retransmissions or keepalive probes went unanswered up to the configured limit (RFC 9293 §3.8.3
    /// threshold R2, RFC 1122 §4.2.3.6).
    case timedOut
    /// The connection was aborted locally.
    case aborted
}

/// What changed in a connection, returned by the state machine so the socket layer can wake waiters.
public struct TCPConnectionEvents: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The handshake completed.
    public static let established = TCPConnectionEvents(rawValue: 1 << 0)
    /// New data or the peer's FIN can be read.
    public static let readable = TCPConnectionEvents(rawValue: 1 << 1)
    /// Send-buffer space was freed.
    public static let writable = TCPConnectionEvents(rawValue: 1 << 2)
    /// The connection reached CLOSED (normally or with `error`).
    public static let closed = TCPConnectionEvents(rawValue: 1 << 3)
}
