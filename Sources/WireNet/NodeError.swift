#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NetStack
import WireGuard
import Wire

/// Everything a ``Node`` or one of its sockets can refuse, with a message a person can act on.
///
/// ## What each call throws
///
/// Calls that do not wait on the network state it in their signature, `throws(NodeError)`, so a
/// `catch` sees a `NodeError` without a cast and can switch over it: ``Node/start()``,
/// ``Node/init(tailnet:options:logger:)``, ``Node/listen(tcp:backlog:)``,
/// ``Node/listenPacket(udp:)``, ``Node/addPeer(_:)``, ``Node/removePeer(_:)``, ``Node/status()``,
/// ``PacketConn/send(_:to:)``, ``TCPStream/setNoDelay(_:)``, ``TCPStream/noDelay`` and
/// ``TCPStream/shutdownWrite()``.
///
/// Calls that wait on the network — ``TCPStream/read(maximumLength:)``, ``TCPStream/write(_:)``,
/// ``TCPListener/accept()``, ``PacketConn/receive()`` and ``Node/dial(tcp:port:timeout:)`` — keep
/// an untyped `throws`: when their task is cancelled they throw Swift's `CancellationError`, as
/// `Task.sleep` and every other suspending call of the concurrency library do, so that
/// `catch is CancellationError`, task groups and swift-service-lifecycle recognise the
/// cancellation. Everything else they throw is a `NodeError`.
///
/// ``Node/start()`` is the one typed call that can wait long (a tailnet node's login); cancelled
/// then, it throws ``cancelled``, and ``Node/run()`` hands that on as `CancellationError`.
public enum NodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The configuration cannot be used (file, line and reason inside).
    case configuration(ConfigurationError)
    /// The node (or the socket) is closed.
    case closed
    /// ``Node/start()`` was called twice.
    case alreadyStarted
    /// The node has not been started.
    case notStarted
    /// A listener already has this port.
    case portInUse(UInt16)
    /// No peer's allowed IPs contain the destination.
    case noRouteToHost(String)
    /// The remote end refused the connection (a RST answered the SYN): nothing listens at this
    /// address and port.
    case connectionRefused(IPEndpoint)
    /// The connection was reset by the remote end.
    case connectionReset
    /// The operation did not complete in time.
    case timedOut
    /// No peer with this key is configured.
    case unknownPeer(PublicKey)
    /// A peer's key cannot be used (a low-order point, or the node's own key).
    case unusablePeerKey(PublicKey)
    /// A datagram larger than fits one packet of the tunnel.
    case datagramTooLarge(size: Int, limit: Int)
    /// A peer endpoint's host name did not resolve.
    case unresolvableHost(String)
    /// A system call failed.
    case system(operation: String, errno: CInt)
    /// The call does not apply to this node's setup (the reason says why).
    case notAvailable(String)
    /// The control helper library (`libwirenetcontrol.so`) is missing or unusable; the message says
    /// where it was looked for and how to build it.
    case controlHelperUnavailable(String)
    /// The control server refused the node (wrong, expired or used-up auth key); control's message.
    case loginRefused(String)
    /// No netmap arrived from the control server in time.
    case timedOutWaitingForControl(Duration)
    /// The control session failed (the message says how).
    case control(String)
    /// The task was cancelled while ``Node/start()`` waited (a tailnet login); nothing is left
    /// running. The calls that wait on the network throw `CancellationError` instead (see above).
    case cancelled

    public var description: String {
        switch self {
        case .configuration(let error): return error.description
        case .closed: return "the node is closed"
        case .alreadyStarted: return "the node is already started"
        case .notStarted: return "the node is not started; call start() first"
        case .portInUse(let port): return "port \(port) is already in use"
        case .noRouteToHost(let host): return "no route to host \(host): no peer's AllowedIPs contain it"
        case .connectionRefused(let endpoint): return "connection refused by \(endpoint): nothing listens on port \(endpoint.port) there"
        case .connectionReset: return "connection reset by peer"
        case .timedOut: return "timed out"
        case .unknownPeer(let key): return "no peer with public key \(key)"
        case .unusablePeerKey(let key): return "peer public key \(key) cannot be used (low-order point or the node's own key)"
        case .datagramTooLarge(let size, let limit): return "datagram of \(size) bytes exceeds the limit of \(limit)"
        case .unresolvableHost(let host): return "cannot resolve host \(host)"
        case .notAvailable(let reason): return "not available: \(reason)"
        case .controlHelperUnavailable(let message): return message
        case .loginRefused(let message):
            // The helper's messages usually say "refused" themselves; do not say it twice.
            return message.contains("refused") ? message : "the control server refused this node: \(message)"
        case .timedOutWaitingForControl(let timeout):
            return "no netmap from the control server within \(timeout.components.seconds) s; is the control URL right and the server up?"
        case .control(let message): return "control: \(message)"
        case .cancelled: return "cancelled while starting"
        case .system(let operation, let errno):
            return "cannot \(operation): \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }
}

/// Foundation's `localizedDescription` (what `print(error.localizedDescription)` and many loggers
/// show) is the same message as ``NodeError/description``, not "WireNet.NodeError error 12".
extension NodeError: LocalizedError {
    public var errorDescription: String? { description }
}
