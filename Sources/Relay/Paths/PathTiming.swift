/// Timers of path discovery, from tailscale's `wgengine/magicsock/endpoint.go` and `magicsock.go`
/// (names in backquotes) unless marked as a choice of this implementation.
public struct PathTiming: Sendable {
    /// `heartbeatInterval`: a direct path in use is pinged this often to keep it (and NAT state) alive.
    public var heartbeatInterval: Duration = .seconds(3)
    /// `trustUDPAddrDuration`: how long a pong keeps a direct path trusted without another.
    public var trustDuration: Duration = .milliseconds(6500)
    /// `discoPingInterval`: the least time between pings of one candidate.
    public var pingInterval: Duration = .seconds(5)
    /// `pingTimeoutDuration`: a ping without a pong after this is lost.
    public var pingTimeout: Duration = .seconds(5)
    /// `upgradeInterval`: with a direct path, all candidates are probed again this often for a better one.
    public var upgradeInterval: Duration = .seconds(60)
    /// `sessionActiveTimeout`: a peer counts as active this long after data went to it; only
    /// active peers are probed.
    public var activeTimeout: Duration = .seconds(45)
    /// A new path replaces the current one only when its latency is below this fraction of the
    /// current one (implementation choice, against flapping between near-equal paths).
    public var switchThreshold: Double = 0.8
    /// Most candidate endpoints kept per peer (implementation choice: bounded memory against a
    /// peer that sends endless call-me-maybe lists).
    public var maxCandidates = 16

    public init() {}
}
