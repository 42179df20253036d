import NetStack
import WireNet

/// Keepalive of every connection a forwarder carries, on both sides of the splice: the host socket
/// (`SO_KEEPALIVE` with `TCP_KEEPIDLE`/`TCP_KEEPINTVL`/`TCP_KEEPCNT`) and the tunnel connection
/// (the node's ``TCPConfiguration/keepalive``).
///
/// Without it a peer that vanishes (powered off, NAT mapping gone) while a splice is idle or
/// half-closed holds a tunnel connection and a host descriptor forever: TCP itself never times out
/// a connection that has nothing to send (RFC 1122 §4.2.3.6), and Linux's `tcp_fin_timeout` applies
/// only to sockets already closed by their owner. The values are a forwarder's choice, far shorter
/// than RFC 1122's 2-hour default: a dead peer is found within `idle + interval × count` (2 min).
enum ForwardingKeepalive {
    /// Idle time before the first probe.
    static let idle: Duration = .seconds(60)
    /// Time between unanswered probes.
    static let interval: Duration = .seconds(15)
    /// Unanswered probes after which the connection is dropped.
    static let count = 4

    /// The tunnel side's setting, for ``Node/Options/tcp``.
    static var tunnel: TCPConfiguration.Keepalive {
        TCPConfiguration.Keepalive(idle: idle, interval: interval, count: count)
    }

    /// Whole seconds, as the socket options take them.
    static func seconds(_ duration: Duration) -> Int32 { Int32(duration.components.seconds) }
}
