import Wire

/// CUBIC congestion control (RFC 9438): after a congestion event the window follows
/// W_cubic(t) = C·(t − K)³ + W_max (§4.2), never below the Reno-friendly estimate W_est (§4.3), with
/// fast convergence (§4.7) and β_cubic = 0.7 multiplicative decrease (§4.6). Slow start is RFC 5681's.
///
/// The window is kept in bytes as a `Double` so that the fractional increases of §4.4 accumulate; the
/// formulas work in segments (W/SMSS) and seconds as the RFC writes them.
struct CubicCongestionControl: CongestionPolicy, Hashable {
    /// RFC 9438 §5: C = 0.4.
    static let c = 0.4
    /// RFC 9438 §4.6: β_cubic = 0.7.
    static let beta = 0.7
    /// RFC 9438 §4.3: α_cubic = 3·(1 − β_cubic) / (1 + β_cubic).
    static let alpha = 3 * (1 - beta) / (1 + beta)

    private(set) var mss: Int
    private var window: Double
    private(set) var ssthresh: Int
    /// W_max (segments): the window just before the last reduction (§4.2).
    private(set) var wMax: Double = 0
    /// W_max before the last reduction, for fast convergence (§4.7).
    private var wLastMax: Double = 0
    /// The start of the current congestion-avoidance epoch (§4.2 "t"), or nil before the first ACK of it.
    private var epochStart: NetInstant? = nil
    /// K (seconds, §4.2 eq. 2).
    private(set) var k: Double = 0
    /// W_est (segments), the Reno-friendly window (§4.3).
    private var wEst: Double = 0
    /// cwnd_prior (segments): the window before the last reduction, for α's switch (§4.3).
    private var cwndPrior: Double = 0

    init(mss: Int) {
        self.mss = Swift.max(1, mss)
        window = Double(initialCongestionWindow(mss: self.mss))
        // RFC 5681 §3.1: initial ssthresh arbitrarily high.
        ssthresh = Int.max
    }

    var cwnd: Int { Int(window) }

    mutating func updateMSS(_ newMSS: Int) {
        mss = Swift.max(1, newMSS)
        window = Double(initialCongestionWindow(mss: mss))
    }

    mutating func onAck(acked: Int, now: NetInstant, rtt: Int64?) {
        let smss = Double(mss)
        if cwnd < ssthresh {
            // RFC 9438 §4.10 / RFC 5681 §3.1 with RFC 3465 byte counting, uncapped as in Linux's
            // tcp_slow_start (stretch ACKs from coalescing receivers), never past ssthresh.
            window = Swift.min(window + Double(acked), Swift.max(Double(ssthresh), window))
            return
        }
        let segments = window / smss
        if epochStart == nil {
            // §4.2: a new epoch starts with the first ACK in congestion avoidance.
            epochStart = now
            if wMax <= segments {
                k = 0
                wMax = segments
            } else {
                k = Self.cubeRoot((wMax - segments) / Self.c)
            }
            wEst = segments
        }
        let elapsed = Double(now - epochStart!) / 1e9
        let rttSeconds = Double(rtt ?? 0) / 1e9
        // §4.2 eq. 1 at t + RTT, clamped to [cwnd, 1.5·cwnd] (§4.4).
        let delta = elapsed + rttSeconds - k
        var target = Self.c * delta * delta * delta + wMax
        target = Swift.min(Swift.max(target, segments), 1.5 * segments)
        // §4.3: W_est grows by α_cubic per window of ACKed segments (α = 1 once past cwnd_prior).
        let alpha = wEst >= cwndPrior ? 1.0 : Self.alpha
        wEst += alpha * (Double(acked) / smss) / segments
        if cubicWindow(at: elapsed) < wEst {
            // §4.3: the Reno-friendly region.
            window = Swift.max(window, wEst * smss)
        } else {
            // §4.4: cwnd += (target − cwnd) / cwnd per ACKed segment.
            window += (target - segments) / segments * Double(acked)
        }
    }

    /// W_cubic(t) in segments (§4.2 eq. 1).
    func cubicWindow(at t: Double) -> Double {
        let d = t - k
        return Self.c * d * d * d + wMax
    }

    /// §4.6 multiplicative decrease with §4.7 fast convergence.
    private mutating func reduce() {
        let segments = window / Double(mss)
        cwndPrior = segments
        if segments < wLastMax {
            wLastMax = segments
            wMax = segments * (1 + Self.beta) / 2
        } else {
            wLastMax = segments
            wMax = segments
        }
        ssthresh = Swift.max(Int(window * Self.beta), 2 * mss)
        epochStart = nil
    }

    mutating func onCongestionEvent(flight: Int, now: NetInstant) {
        reduce()
        window = Double(ssthresh)
    }

    /// Recovery ends at ssthresh (RFC 6675 §5); an undo that made ssthresh unbounded again (slow start,
    /// `undoReduction`) keeps the window.
    mutating func onRecoveryEnd() { if ssthresh != Int.max { window = Double(ssthresh) } }

    /// §4.8: on a retransmission timeout, reduce as for a congestion event and restart from 1 SMSS.
    mutating func onRetransmissionTimeout(flight: Int, now: NetInstant) {
        reduce()
        window = Double(mss)
    }

    /// RFC 9406 §4.2: HyStart++ ends slow start; congestion avoidance starts from this window
    /// (RFC 9438 §4.10: W_max is then set by the first epoch, §4.2).
    mutating func endSlowStart() { ssthresh = cwnd }

    /// RFC 3708 §3 for one earlier reduction: the window (and ssthresh) back up by `factor`; W_max is at
    /// least the restored window, and a new epoch starts from there (§4.2).
    mutating func undoReduction(factor: Double, limit: (cwnd: Int, ssthresh: Int), restoringSlowStart: Bool) {
        window = Swift.min(window * factor, Swift.max(window, Double(limit.cwnd)))
        ssthresh = undoneThreshold(ssthresh, factor: factor, limit: limit.ssthresh, restoringSlowStart: restoringSlowStart)
        wMax = Swift.max(wMax, window / Double(mss))
        epochStart = nil
    }

    /// ∛x for x ≥ 0 by Newton's method (the standard library has no cbrt and NetStack imports no libm).
    static func cubeRoot(_ x: Double) -> Double {
        guard x > 0 else { return 0 }
        var r = x > 1 ? x / 3 : 1
        for _ in 0..<100 {
            let next = r - (r * r * r - x) / (3 * r * r)
            if abs(next - r) <= 1e-12 * r { return next }
            r = next
        }
        return r
    }
}
