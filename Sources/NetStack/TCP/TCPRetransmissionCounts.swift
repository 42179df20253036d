/// Segments a connection sent again, by what decided to resend them (Linux counts the same kinds:
/// `TCPTimeouts`/`TCPSynRetrans`, `TCPFastRetrans`, `TCPLossProbes` in `/proc/net/netstat`).
public struct TCPRetransmissionCounts: Hashable, Sendable {
    /// Resent after the retransmission timer expired (RFC 6298 §5.4): the go-back-N from SND.UNA
    /// that follows a timeout, and SYN or SYN,ACK retransmissions.
    public var timeout = 0
    /// The segment at SND.UNA resent on duplicate ACKs or a NewReno partial ACK (fast retransmit,
    /// RFC 5681 §3.2 step 2; RFC 6582 §3.2 step 3).
    public var fastRetransmit = 0
    /// Other lost segments resent during SACK loss recovery (RFC 6675 §5 NextSeg() rule 1, ranges
    /// RACK marked lost, RFC 8985 §6.2).
    public var lossRecovery = 0
    /// Tail loss probes that resent the last segment (RFC 8985 §7.3; a probe with new data is not a
    /// retransmission).
    public var tailLossProbe = 0
    /// Retransmission timer expiries with data outstanding (events, not segments; Linux `TCPTimeouts`).
    public var retransmissionTimeouts = 0
    /// Loss recoveries entered on SACK, duplicate ACKs or RACK (events; Linux `TCPSackRecovery` +
    /// `TCPRenoRecovery`).
    public var fastRecoveries = 0

    public init() {}

    /// All retransmitted segments.
    public var total: Int { timeout + fastRetransmit + lossRecovery + tailLossProbe }

    public static func += (lhs: inout TCPRetransmissionCounts, rhs: TCPRetransmissionCounts) {
        lhs.timeout += rhs.timeout
        lhs.fastRetransmit += rhs.fastRetransmit
        lhs.lossRecovery += rhs.lossRecovery
        lhs.tailLossProbe += rhs.tailLossProbe
        lhs.retransmissionTimeouts += rhs.retransmissionTimeouts
        lhs.fastRecoveries += rhs.fastRecoveries
    }
}
