/// Tunables of one TCP connection. Defaults follow the cited RFCs or, where an RFC leaves a choice,
/// Linux's defaults (noted at each property).
public struct TCPConfiguration: Sendable, Hashable {
    /// Receive buffer (and so the largest window advertised), bytes. Linux tcp_rmem default is 128 KiB;
    /// we default larger because the stack is built for throughput over high-BDP tunnels.
    public var receiveBufferSize: Int = 1 << 20
    /// Receive-window auto-tuning (Linux `tcp_moderate_rcvbuf`, on by default): the window starts at
    /// `initialReceiveWindow` and grows to about twice what the application reads per round trip, up to
    /// `receiveBufferSize` and what the node's buffer pool can supply. Off: the window may reach
    /// `receiveBufferSize` at once.
    public var receiveWindowAutoTuning: Bool = true
    /// The first window limit when auto-tuning (Linux starts near 64 KiB, `tcp_rmem[1]` halved by
    /// `tcp_adv_win_scale`).
    public var initialReceiveWindow: Int = 64 << 10
    /// Send buffer, bytes.
    public var sendBufferSize: Int = 1 << 20
    /// MSS this side announces and caps its segments at: the interface MTU minus IP and TCP headers
    /// (RFC 9293 §3.7.1, RFC 879). The stack sets it from its MTU and the address family.
    public var maxSegmentSize: Int = 1460
    /// Negotiate window scaling (RFC 7323 §2).
    public var windowScaling: Bool = true
    /// Negotiate timestamps (RFC 7323 §3).
    public var timestamps: Bool = true
    /// Disable the Nagle algorithm (RFC 9293 §3.7.4; RFC 1122 §4.2.3.4 requires it be switchable).
    public var noDelay: Bool = false
    /// RTO floor. RFC 6298 §2.4 says 1 s; Linux uses 200 ms (TCP_RTO_MIN), as do we by default.
    public var minimumRTO: Duration = .milliseconds(200)
    /// RTO ceiling (RFC 6298 §2.5: at least 60 s; Linux TCP_RTO_MAX is 120 s).
    public var maximumRTO: Duration = .seconds(60)
    /// Retransmissions of one segment before the connection fails (RFC 9293 §3.8.3 R2; Linux
    /// tcp_retries2 = 15).
    public var maxRetransmissions: Int = 15
    /// SYN retransmissions before an open fails (RFC 9293 §3.8.3: R2 for SYN ≥ 3 minutes; Linux
    /// tcp_syn_retries = 6).
    public var maxSynRetransmissions: Int = 6
    /// Delayed-ACK timeout (RFC 9293 §3.8.6.3: < 0.5 s; Linux's minimum delayed ACK is 40 ms).
    public var delayedAckTimeout: Duration = .milliseconds(40)
    /// TIME-WAIT duration: 2×MSL (RFC 9293 §3.4.2 suggests MSL = 2 min; Linux uses 60 s in total).
    /// Make it short in tests.
    public var timeWaitDuration: Duration = .seconds(60)
    /// How long a fully closed connection may wait in FIN-WAIT-2 for the peer's FIN (Linux
    /// tcp_fin_timeout = 60 s). Half-closed connections (`shutdownWrite`) wait for the peer as long as
    /// it answers: only `keepalive` finds a peer that vanished.
    public var finWait2Timeout: Duration = .seconds(60)
    /// Keepalive (RFC 1122 §4.2.3.6: off by default; idle ≥ 2 h by default when on).
    public var keepalive: Keepalive? = nil
    /// RFC 5961 §7: at most this many challenge ACKs per second per connection.
    public var challengeAckLimit: Int = 10
    /// Negotiate selective acknowledgments (RFC 2018; Linux tcp_sack = 1) and use them for loss
    /// recovery (RFC 6675).
    public var selectiveAcknowledgments: Bool = true
    /// The congestion-control algorithm (Linux's default is CUBIC, RFC 9438). `.bbr` keeps its rate
    /// under random loss (and paces); see `TCPCongestionControlAlgorithm`.
    public var congestionControl: TCPCongestionControlAlgorithm = .cubic
    /// In-order segments acknowledged at once at the start of a connection before delayed ACKs begin
    /// (Linux TCP_MAX_QUICKACKS = 16), so that the peer's slow start is not slowed by delayed ACKs.
    public var quickAcks: Int = 16
    // The three receiver rules below are built and unit-tested but off by default: they change when
    // every ACK goes out and were not yet measured on real paths (perf/loss.sh, perf/run.sh rows b
    // and c) or over the simulator's loss suites. Turn them on once those runs show they pay.
    /// Quick-ACK mode again after a segment that was entirely received before and after a silence
    /// longer than the RTO (as Linux does).
    var quickAckReentry = false
    /// SACK-ACK compression (`SACKCompression`; Linux `net.ipv4.tcp_comp_sack_nr` > 0, its default).
    var sackCompression = false
    /// In-order full-sized segments per ACK when the receiver knows the RTT ("stretch" ACKs, see
    /// `AckPolicy`); 2: RFC 5681 §4.2's every second segment.
    var stretchAckSegments = 2

    /// Keepalive parameters (RFC 1122 §4.2.3.6; defaults as Linux tcp_keepalive_*).
    public struct Keepalive: Sendable, Hashable {
        /// Idle time before the first probe.
        public var idle: Duration = .seconds(7200)
        /// Time between unanswered probes.
        public var interval: Duration = .seconds(75)
        /// Unanswered probes after which the connection fails.
        public var count: Int = 9
        public init(idle: Duration = .seconds(7200), interval: Duration = .seconds(75), count: Int = 9) {
            self.idle = idle
            self.interval = interval
            self.count = count
        }
    }

    public init() {}
}
