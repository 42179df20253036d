import Wire

/// The congestion-control algorithm of a connection (RFC 5033 lets each sender choose one).
public enum TCPCongestionControlAlgorithm: Sendable, Hashable {
    /// CUBIC (RFC 9438), Linux's default since 2.6.19.
    case cubic
    /// NewReno's congestion window rules (RFC 5681 §3, RFC 6582).
    case newReno
    /// A model-based policy after BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00): paced at the
    /// measured bottleneck bandwidth, a window of twice the bandwidth-delay product, and no reduction
    /// for random loss. Holds its rate on lossy paths (Wi-Fi, mobile) where CUBIC cannot; does not yield
    /// to loss-based flows on a shared bottleneck as CUBIC does, so it is not the default.
    case bbr
}

/// A congestion-control policy: how the congestion window grows on acknowledgments and shrinks on
/// congestion events. Which segments are lost and resent is `LossRecovery`'s business, not the policy's.
///
/// Sizes are bytes; time comes in as `now` (sans-IO).
protocol CongestionPolicy {
    var cwnd: Int { get }
    var ssthresh: Int { get }
    /// The sender's MSS changed (at connection set-up): reset the initial window.
    mutating func updateMSS(_ mss: Int)
    /// `acked` new bytes were acknowledged outside loss recovery. `rtt` is the smoothed RTT if known.
    mutating func onAck(acked: Int, now: NetInstant, rtt: Int64?)
    /// Loss recovery begins (a congestion event, RFC 5681 §3.2 step 2 / RFC 6675 §5 step 4.2).
    mutating func onCongestionEvent(flight: Int, now: NetInstant)
    /// Loss recovery ended: the recovery point was acknowledged.
    mutating func onRecoveryEnd()
    /// Slow start ends without a loss (HyStart++, RFC 9406 §4.2): ssthresh = cwnd.
    mutating func endSlowStart()
    /// The retransmission timer expired (RFC 5681 §3.1 "loss window").
    mutating func onRetransmissionTimeout(flight: Int, now: NetInstant)
    /// An earlier reduction of the window by 1/`factor` was spurious (RFC 3708 §3): scale cwnd and
    /// ssthresh back up by `factor`, keeping what happened since, but never past what they were before
    /// that reduction (`limit`, or where they are now if higher).
    mutating func undoReduction(factor: Double, limit: (cwnd: Int, ssthresh: Int), restoringSlowStart: Bool)
}

/// The configured policy, stored inline (no existential boxes on the per-ACK path).
enum CongestionController: Hashable {
    case cubic(CubicCongestionControl)
    case newReno(NewRenoCongestionControl)
    case bbr(BBRCongestionControl)

    init(_ algorithm: TCPCongestionControlAlgorithm, mss: Int) {
        switch algorithm {
        case .cubic: self = .cubic(CubicCongestionControl(mss: mss))
        case .newReno: self = .newReno(NewRenoCongestionControl(mss: mss))
        case .bbr: self = .bbr(BBRCongestionControl(mss: mss))
        }
    }

    var algorithm: TCPCongestionControlAlgorithm {
        switch self {
        case .cubic: .cubic
        case .newReno: .newReno
        case .bbr: .bbr
        }
    }

    var cwnd: Int {
        switch self {
        case .cubic(let c): c.cwnd
        case .newReno(let c): c.cwnd
        case .bbr(let c): c.cwnd
        }
    }

    var ssthresh: Int {
        switch self {
        case .cubic(let c): c.ssthresh
        case .newReno(let c): c.ssthresh
        case .bbr(let c): c.ssthresh
        }
    }

    /// Whether the policy is driven by delivery-rate samples (`onRateSample`).
    var usesRateSamples: Bool {
        if case .bbr = self { return true }
        return false
    }

    /// The rate (bytes per second) the policy paces at; nil when it does not pace.
    var pacingRate: Double? {
        guard case .bbr(let c) = self, c.pacingRate > 0 else { return nil }
        return c.pacingRate
    }

    /// One ACK's delivery-rate sample (for the policies that use them).
    mutating func onRateSample(_ rs: RateSample, inFlight: Int, now: NetInstant) {
        guard case .bbr(var c) = self else { return }
        c.onRateSample(rs, inFlight: inFlight, now: now)
        self = .bbr(c)
    }

    /// Recovery from a retransmission timeout ended (its recovery point was acknowledged). Only BBR
    /// keeps state for it: the loss-based policies grow out of it by slow start.
    mutating func onTimeoutRecoveryEnd() {
        guard case .bbr(var c) = self else { return }
        c.onRecoveryEnd()
        self = .bbr(c)
    }

    mutating func updateMSS(_ mss: Int) {
        switch self {
        case .cubic(var c): c.updateMSS(mss); self = .cubic(c)
        case .newReno(var c): c.updateMSS(mss); self = .newReno(c)
        case .bbr(var c): c.updateMSS(mss); self = .bbr(c)
        }
    }

    mutating func onAck(acked: Int, now: NetInstant, rtt: Int64?) {
        switch self {
        case .cubic(var c): c.onAck(acked: acked, now: now, rtt: rtt); self = .cubic(c)
        case .newReno(var c): c.onAck(acked: acked, now: now, rtt: rtt); self = .newReno(c)
        case .bbr(var c): c.onAck(acked: acked, now: now, rtt: rtt); self = .bbr(c)
        }
    }

    mutating func onCongestionEvent(flight: Int, now: NetInstant) {
        switch self {
        case .cubic(var c): c.onCongestionEvent(flight: flight, now: now); self = .cubic(c)
        case .newReno(var c): c.onCongestionEvent(flight: flight, now: now); self = .newReno(c)
        case .bbr(var c): c.onCongestionEvent(flight: flight, now: now); self = .bbr(c)
        }
    }

    mutating func onRecoveryEnd() {
        switch self {
        case .cubic(var c): c.onRecoveryEnd(); self = .cubic(c)
        case .newReno(var c): c.onRecoveryEnd(); self = .newReno(c)
        case .bbr(var c): c.onRecoveryEnd(); self = .bbr(c)
        }
    }

    mutating func onRetransmissionTimeout(flight: Int, now: NetInstant) {
        switch self {
        case .cubic(var c): c.onRetransmissionTimeout(flight: flight, now: now); self = .cubic(c)
        case .newReno(var c): c.onRetransmissionTimeout(flight: flight, now: now); self = .newReno(c)
        case .bbr(var c): c.onRetransmissionTimeout(flight: flight, now: now); self = .bbr(c)
        }
    }

    /// `undoReduction(factor:limit:restoringSlowStart:)` with the state before the reduction as the limit.
    mutating func endSlowStart() {
        switch self {
        case .cubic(var c): c.endSlowStart(); self = .cubic(c)
        case .newReno(var c): c.endSlowStart(); self = .newReno(c)
        case .bbr(var c): c.endSlowStart(); self = .bbr(c)
        }
    }

    mutating func undoReduction(factor: Double, upTo before: CongestionController, restoringSlowStart: Bool = false) {
        let limit = (before.cwnd, before.ssthresh)
        switch self {
        case .cubic(var c): c.undoReduction(factor: factor, limit: limit, restoringSlowStart: restoringSlowStart); self = .cubic(c)
        case .newReno(var c): c.undoReduction(factor: factor, limit: limit, restoringSlowStart: restoringSlowStart); self = .newReno(c)
        case .bbr(var c): c.undoReduction(factor: factor, limit: limit, restoringSlowStart: restoringSlowStart); self = .bbr(c)
        }
    }
}

/// RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)).
func initialCongestionWindow(mss: Int) -> Int { Swift.min(10 * mss, Swift.max(2 * mss, 14600)) }

/// ssthresh after undoing a reduction by 1/`factor` (RFC 3708 §3): scaled back up, never past `limit`
/// (its value before the reduction) unless already higher. A reduction that ended slow start gives back
/// the unbounded ssthresh only when `restoringSlowStart` (see `SpuriousRecoveryUndo.takeSpurious`).
func undoneThreshold(_ ssthresh: Int, factor: Double, limit: Int, restoringSlowStart: Bool) -> Int {
    if ssthresh == Int.max || (restoringSlowStart && limit == Int.max) { return Int.max }
    let scaled = Double(ssthresh) * factor
    if limit == Int.max { return scaled >= Double(Int.max) ? Int.max : Int(scaled) }
    return Swift.min(Int(scaled), Swift.max(ssthresh, limit))
}
