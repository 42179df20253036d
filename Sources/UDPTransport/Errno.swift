import CWireNetShims
import Glibc

/// An `errno` value with its symbolic name, as a value type (after swift-system's `Errno`).
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: CInt

    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    static var current: Errno { Errno(rawValue: errno) }

    /// The symbolic name ("ECONNREFUSED"), or "errno N" when the C library has none.
    public var name: String {
        if let cName = wirenet_errno_name(rawValue) { return String(cString: cName) }
        return "errno \(rawValue)"
    }

    /// Name and message, e.g. "ECONNREFUSED (Connection refused)".
    public var description: String {
        "\(name) (\(String(cString: strerror(rawValue))))"
    }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let networkUnreachable = Errno(rawValue: ENETUNREACH)
    public static let hostUnreachable = Errno(rawValue: EHOSTUNREACH)
    public static let messageTooLong = Errno(rawValue: EMSGSIZE)
    public static let noBufferSpace = Errno(rawValue: ENOBUFS)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let ioError = Errno(rawValue: EIO)
    public static let operationNotSupported = Errno(rawValue: EOPNOTSUPP)
    public static let permissionDenied = Errno(rawValue: EPERM)
    public static let canceled = Errno(rawValue: ECANCELED)
    public static let timedOut = Errno(rawValue: ETIME)
    public static let addressFamilyNotSupported = Errno(rawValue: EAFNOSUPPORT)

    /// Errors an ICMP message can leave pending on a UDP socket (`sk_err`, with `IP_RECVERR`):
    /// the next send or receive on the socket fails with it, whatever datagram that is.
    var isAsynchronousICMPError: Bool {
        switch rawValue {
        case ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENONET, EPROTO, EMSGSIZE: true
        default: false
        }
    }

    /// Errors with which the kernel refuses a `UDP_SEGMENT` send it cannot offload: `EIO` when the
    /// device lacks checksum offload, `EINVAL` when a segment exceeds the path MTU or the count
    /// limit (net/ipv4/udp.c, `udp_send_skb`), `EOPNOTSUPP`/`ENOPROTOOPT` on kernels without it.
    var refusesSegmentationOffload: Bool {
        switch rawValue {
        case EIO, EINVAL, EOPNOTSUPP, ENOPROTOOPT: true
        default: false
        }
    }
}
