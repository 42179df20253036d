import Wire

/// NewReno's congestion window rules: slow start and congestion avoidance (RFC 5681 §3.1, with
/// RFC 3465 byte counting), halving on a congestion event (RFC 5681 eq. 4), and the RFC 6582 §3.2
/// step 3 window on leaving recovery. Recovery itself (which segments to resend, how much may be in
/// flight) is `LossRecovery`'s. Sizes are in bytes.
struct NewRenoCongestionControl: CongestionPolicy, Hashable {
    /// SMSS: the sender's maximum segment size.
    private(set) var mss: Int
    private(set) var cwnd: Int
    private(set) var ssthresh: Int
    /// RFC 5681 §3.1 byte counting in congestion avoidance.
    private var bytesAckedInAvoidance = 0

    init(mss: Int) {
        self.mss = Swift.max(1, mss)
        cwnd = initialCongestionWindow(mss: self.mss)
        // RFC 5681 §3.1: "the initial value of ssthresh SHOULD be set arbitrarily high".
        ssthresh = Int.max
    }

    mutating func updateMSS(_ newMSS: Int) {
        mss = Swift.max(1, newMSS)
        cwnd = initialCongestionWindow(mss: mss)
    }

    mutating func onAck(acked: Int, now: NetInstant, rtt: Int64?) {
        if cwnd < ssthresh {
            // RFC 5681 §3.1 eq. 2 with RFC 3465 byte counting, without RFC 3465's L = 2·SMSS cap (as
            // Linux's tcp_slow_start): receivers that coalesce segments (GRO) send stretch ACKs, and a
            // capped increase would keep slow start far below doubling per round trip.
            cwnd = Swift.min(cwnd + acked, Swift.max(ssthresh, cwnd))
        } else {
            // RFC 5681 §3.1: cwnd += SMSS once per cwnd of acknowledged bytes.
            bytesAckedInAvoidance += acked
            if bytesAckedInAvoidance >= cwnd {
                bytesAckedInAvoidance -= cwnd
                cwnd += mss
            }
        }
    }

    /// RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS); during recovery the sender keeps
    /// `pipe` under ssthresh (RFC 6675 §5 step 4.2 sets cwnd = ssthresh).
    mutating func onCongestionEvent(flight: Int, now: NetInstant) {
        ssthresh = Swift.max(flight / 2, 2 * mss)
        cwnd = ssthresh
        bytesAckedInAvoidance = 0
    }

    /// RFC 6582 §3.2 step 3 (full acknowledgment): continue with cwnd = ssthresh.
    /// RFC 9406 §4.2: HyStart++ ends slow start.
    mutating func endSlowStart() { ssthresh = cwnd }

    /// An undo that made ssthresh unbounded again (slow start, `undoReduction`) keeps the window.
    mutating func onRecoveryEnd() { if ssthresh != Int.max { cwnd = ssthresh } }

    /// RFC 5681 §3.1 eq. 4 and the loss window LW = 1 SMSS.
    mutating func onRetransmissionTimeout(flight: Int, now: NetInstant) {
        ssthresh = Swift.max(flight / 2, 2 * mss)
        cwnd = mss
        bytesAckedInAvoidance = 0
    }

    mutating func undoReduction(factor: Double, limit: (cwnd: Int, ssthresh: Int), restoringSlowStart: Bool) {
        cwnd = Swift.min(Int(Double(cwnd) * factor), Swift.max(cwnd, limit.cwnd))
        ssthresh = undoneThreshold(ssthresh, factor: factor, limit: limit.ssthresh, restoringSlowStart: restoringSlowStart)
    }
}
