import Wire

/// A model-based congestion policy after BBR version 1 (draft-cardwell-iccrg-bbr-congestion-control-00,
/// Linux `tcp_bbr.c`): the sender estimates the path's bottleneck bandwidth (the windowed maximum of
/// delivery-rate samples, `DeliveryRateEstimator`) and its round-trip propagation delay (the windowed
/// minimum RTT), paces at `pacing_gain`·BtlBw and keeps at most `cwnd_gain`·BDP in flight.
///
/// Random loss does not shrink the model: a lost segment is resent, and for one round of loss recovery
/// the window only follows what is delivered (packet conservation), then returns to the model. That is
/// what makes it hold its rate at a loss rate where a loss-based policy (Reno, CUBIC: the window falls by
/// a factor per loss event, so W ∝ 1/√p) cannot — and also why it is not the default: on a shared
/// bottleneck it does not back off for loss the way CUBIC does (`TCPConfiguration.congestionControl`).
///
/// States (draft §4.3): Startup (gain 2/ln 2 until the bandwidth stops growing by 25 % for three rounds),
/// Drain (the queue Startup built), ProbeBW (the gain cycles 1.25, 0.75, then six rounds of 1) and
/// ProbeRTT (every 10 s without a new minimum RTT: 4 segments in flight for 200 ms and a round).
struct BBRCongestionControl: CongestionPolicy, Hashable {
    enum Mode: Hashable { case startup, drain, probeBandwidth, probeRTT }

    /// Draft §4.3.1: BBRHighGain = 2/ln(2), the smallest gain that doubles the delivery rate per round.
    static let highGain = 2.885
    /// Draft §4.3.2: the drain gain is its inverse.
    static let drainGain = 1 / 2.885
    /// Draft §4.2.3.2: cwnd_gain in ProbeBW.
    static let cwndGain = 2.0
    /// Draft §4.3.3: the eight-phase pacing gain cycle of ProbeBW.
    static func pacingGain(phase: Int) -> Double {
        switch phase {
        case 0: 1.25
        case 1: 0.75
        default: 1
        }
    }
    static let cycleLength = 8
    /// The phase ProbeBW starts in: Linux picks a random one other than 1 (the drain phase); a sans-IO
    /// core without randomness takes the first cruising phase, so every run replays.
    static let initialCyclePhase = 2
    /// Draft §4.1.1.3: BtlBwFilterLen, in round trips.
    static let bandwidthFilterRounds: Int64 = 10
    /// Draft §4.1.2.3: MinRTTFilterLen.
    static let minRTTFilterLength: Int64 = 10_000_000_000
    /// Draft §4.3.4: ProbeRTTDuration.
    static let probeRTTDuration: Int64 = 200_000_000
    /// Draft §4.2.3.1: BBRMinPipeCwnd, in segments.
    static let minimumWindowSegments = 4
    /// Draft §4.3.2: full bandwidth is reached when it grew less than 25 % in three rounds.
    static let fullBandwidthGrowth = 1.25
    static let fullBandwidthRounds = 3
    /// Linux `bbr_quantization_budget`: three pacing bursts (`Pacer.quantum`, about 1 ms of data) on top
    /// of the BDP, for the slack of bursty sending and batched ACKs. On a sub-millisecond path whose
    /// ACKs come back in batches per event-loop turn, a budget of three *segments* left the window below
    /// what a turn's batch keeps in flight, and the measured rate — and with it the window — fell.
    static let quantizationBursts = 3

    private(set) var mss: Int
    private(set) var cwnd: Int
    /// BBR keeps no slow-start threshold; reported as unbounded.
    var ssthresh: Int { Int.max }
    private(set) var mode = Mode.startup
    /// Bottleneck bandwidth, bytes per second, max over the last `bandwidthFilterRounds` rounds.
    private(set) var bandwidth = WindowedMaxFilter(window: BBRCongestionControl.bandwidthFilterRounds)
    /// RTprop estimate (nanoseconds) and when it was taken.
    private(set) var minRTT: Int64? = nil
    private var minRTTStamp = NetInstant.zero
    /// Packet-timed round trips (draft §4.1.1.2).
    private(set) var roundCount: Int64 = 0
    private var nextRoundDelivered = 0
    private var roundStart = false
    /// Draft §4.3.2: Startup's bandwidth plateau detection.
    private var fullBandwidth = 0.0
    private var fullBandwidthCount = 0
    private(set) var filledPipe = false
    /// ProbeBW's position in the gain cycle and when it began.
    private(set) var cyclePhase = 0
    private var cycleStamp = NetInstant.zero
    /// ProbeRTT: when it may end, and whether a round has passed at the low window.
    private var probeRTTDoneStamp: NetInstant? = nil
    private var probeRTTRoundDone = false
    /// Draft §4.2.3.4: the window saved on entering loss recovery or ProbeRTT, restored on leaving.
    private var priorCwnd = 0
    /// Loss recovery began and the next ACK sets the conserving window.
    private var recoveryStarting = false
    /// In loss recovery (fast recovery or after a timeout).
    private var inRecovery = false
    /// Draft §4.2.3.4: packet conservation during the first round of recovery.
    private var packetConservation = false
    /// Bytes delivered so far, as the rate estimator counts them.
    private var delivered = 0
    /// The pacing rate, bytes per second (0 until the first RTT sample or window is known).
    private(set) var pacingRate: Double = 0

    init(mss: Int) {
        self.mss = Swift.max(1, mss)
        cwnd = initialCongestionWindow(mss: self.mss)
    }

    var pacingGain: Double {
        switch mode {
        case .startup: Self.highGain
        case .drain: Self.drainGain
        case .probeBandwidth: Self.pacingGain(phase: cyclePhase)
        case .probeRTT: 1
        }
    }

    var cwndGain: Double {
        switch mode {
        case .startup, .drain: Self.highGain
        case .probeBandwidth: Self.cwndGain
        case .probeRTT: 1
        }
    }

    mutating func updateMSS(_ newMSS: Int) {
        mss = Swift.max(1, newMSS)
        cwnd = initialCongestionWindow(mss: mss)
    }

    /// The window grows only from rate samples (`onRateSample`).
    mutating func onAck(acked: Int, now: NetInstant, rtt: Int64?) {}

    /// Draft §4.2.3.4: entering loss recovery saves the window; the next ACK sets the conserving one.
    mutating func onCongestionEvent(flight: Int, now: NetInstant) {
        saveCwnd()
        recoveryStarting = true
        inRecovery = true
    }

    /// Draft §4.2.3.4: leaving recovery restores the window saved on entering it.
    mutating func onRecoveryEnd() {
        inRecovery = false
        packetConservation = false
        cwnd = Swift.max(cwnd, priorCwnd)
    }

    /// Slow start is BBR's own Startup: HyStart++ does not end it.
    mutating func endSlowStart() {}

    /// Draft §4.2.3.4 / Linux: a timeout leaves one segment in flight; the window then regrows by what is
    /// delivered, up to the model's target. The model itself (bandwidth, RTprop) is kept.
    mutating func onRetransmissionTimeout(flight: Int, now: NetInstant) {
        saveCwnd()
        cwnd = mss
        inRecovery = true
        recoveryStarting = false
        packetConservation = false
        // Linux `bbr_cwnd_event`/`bbr_set_state(TCP_CA_Loss)`: the plateau count starts over.
        fullBandwidth = 0
        fullBandwidthCount = 0
        roundStart = true
    }

    /// A spurious recovery or timeout: the saved window comes back.
    mutating func undoReduction(factor: Double, limit: (cwnd: Int, ssthresh: Int), restoringSlowStart: Bool) {
        inRecovery = false
        packetConservation = false
        recoveryStarting = false
        cwnd = Swift.max(cwnd, Swift.min(priorCwnd, limit.cwnd))
    }

    private mutating func saveCwnd() {
        if !inRecovery && mode != .probeRTT {
            priorCwnd = cwnd
        } else {
            priorCwnd = Swift.max(priorCwnd, cwnd)
        }
    }

    /// The bandwidth-delay product times `gain`, bytes (the initial window before an RTT is known).
    func targetWindow(gain: Double) -> Int {
        guard let rtt = minRTT, bandwidth.best > 0 else { return initialCongestionWindow(mss: mss) }
        let bdp = bandwidth.best * Double(rtt) / 1e9
        return Int(gain * bdp)
    }

    /// One ACK's rate sample with `inFlight` bytes outstanding after it (draft §4.2, `BBRUpdateOnACK`).
    mutating func onRateSample(_ rs: RateSample, inFlight: Int, now: NetInstant) {
        delivered += rs.newlyDelivered
        updateRound(rs)
        updateBandwidth(rs)
        updateCyclePhase(inFlight: inFlight, now: now)
        checkFullBandwidth(rs)
        checkDrain(inFlight: inFlight, now: now)
        updateMinRTT(rs, inFlight: inFlight, now: now)
        setPacingRate()
        setCwnd(rs, inFlight: inFlight)
    }

    /// Draft §4.1.1.2: a round ends when a segment sent after the previous round's end is delivered.
    private mutating func updateRound(_ rs: RateSample) {
        if rs.priorDelivered >= nextRoundDelivered && rs.newlyDelivered > 0 {
            nextRoundDelivered = delivered
            roundCount += 1
            roundStart = true
            packetConservation = false
        } else {
            roundStart = false
        }
    }

    /// Draft §4.1.1.3: application-limited samples count only when they raise the estimate.
    private mutating func updateBandwidth(_ rs: RateSample) {
        guard let rate = rs.deliveryRate(minRTT: minRTT) else { return }
        if rate >= bandwidth.best || !rs.isAppLimited {
            bandwidth.update(time: roundCount, value: rate)
        }
    }

    /// Draft §4.3.3 (`BBRCheckCyclePhase`): the probing phase lasts at least an RTprop and until the
    /// window is full at 1.25·BDP (or loss); the draining phase until in-flight falls to the BDP.
    private mutating func updateCyclePhase(inFlight: Int, now: NetInstant) {
        guard mode == .probeBandwidth else { return }
        let rtt = minRTT ?? 0
        let fullLength = now - cycleStamp > rtt
        let gain = pacingGain
        var advance = fullLength
        if gain > 1 {
            advance = fullLength && (inRecovery || inFlight >= targetWindow(gain: gain))
        } else if gain < 1 {
            advance = fullLength || inFlight <= targetWindow(gain: 1)
        }
        if advance {
            cyclePhase = (cyclePhase + 1) % Self.cycleLength
            cycleStamp = now
        }
    }

    /// Draft §4.3.2: Startup ends when three rounds in a row raised the bandwidth by less than 25 %.
    private mutating func checkFullBandwidth(_ rs: RateSample) {
        guard !filledPipe, roundStart, !rs.isAppLimited else { return }
        if bandwidth.best >= fullBandwidth * Self.fullBandwidthGrowth {
            fullBandwidth = bandwidth.best
            fullBandwidthCount = 0
            return
        }
        fullBandwidthCount += 1
        if fullBandwidthCount >= Self.fullBandwidthRounds { filledPipe = true }
    }

    /// Draft §4.3.2: Drain once the pipe is full, ProbeBW once in-flight is back at the BDP.
    private mutating func checkDrain(inFlight: Int, now: NetInstant) {
        if mode == .startup && filledPipe { mode = .drain }
        if mode == .drain && inFlight <= targetWindow(gain: 1) { enterProbeBandwidth(now: now) }
    }

    private mutating func enterProbeBandwidth(now: NetInstant) {
        mode = .probeBandwidth
        cyclePhase = Self.initialCyclePhase
        cycleStamp = now
    }

    /// Draft §4.1.2.3 and §4.3.4: the RTprop filter, and ProbeRTT when it expired.
    private mutating func updateMinRTT(_ rs: RateSample, inFlight: Int, now: NetInstant) {
        let expired = minRTT != nil && now - minRTTStamp > Self.minRTTFilterLength
        if let rtt = rs.rtt, rtt >= 0, minRTT == nil || rtt <= minRTT! || expired {
            minRTT = rtt
            minRTTStamp = now
        }
        if expired && mode != .probeRTT {
            mode = .probeRTT
            saveCwnd()
            probeRTTDoneStamp = nil
        }
        guard mode == .probeRTT else { return }
        if probeRTTDoneStamp == nil && inFlight <= Self.minimumWindowSegments * mss {
            probeRTTDoneStamp = now + Self.probeRTTDuration
            probeRTTRoundDone = false
            nextRoundDelivered = delivered
        } else if let done = probeRTTDoneStamp {
            if roundStart { probeRTTRoundDone = true }
            if probeRTTRoundDone && now >= done {
                minRTTStamp = now
                cwnd = Swift.max(cwnd, priorCwnd)
                if filledPipe { enterProbeBandwidth(now: now) } else { mode = .startup }
            }
        }
    }

    /// Draft §4.2.1: pacing_rate = pacing_gain·BtlBw; before a bandwidth sample, the initial window
    /// over the RTT (1 ms when none is known yet). Startup never lowers the rate.
    private mutating func setPacingRate() {
        let rate: Double
        if bandwidth.best > 0 {
            rate = pacingGain * bandwidth.best
        } else {
            let rtt = Double(minRTT.map { Swift.max($0, 1_000) } ?? 1_000_000) / 1e9
            rate = Self.highGain * Double(cwnd) / rtt
        }
        if filledPipe || rate > pacingRate { pacingRate = rate }
    }

    /// Draft §4.2.3: the window follows cwnd_gain·BDP plus the quantization budget; in the first round
    /// of recovery it conserves packets; in ProbeRTT it is four segments.
    private mutating func setCwnd(_ rs: RateSample, inFlight: Int) {
        let acked = rs.newlyDelivered
        if recoveryStarting {
            recoveryStarting = false
            packetConservation = true
            nextRoundDelivered = delivered
            cwnd = inFlight + acked
        }
        let target = targetWindow(gain: cwndGain) + Self.quantizationBursts * Pacer.quantum(rate: pacingRate, mss: mss)
        if packetConservation {
            cwnd = Swift.max(cwnd, inFlight + acked)
        } else if filledPipe {
            cwnd = Swift.min(cwnd + acked, target)
        } else if cwnd < target || delivered < initialCongestionWindow(mss: mss) {
            cwnd += acked
        }
        cwnd = Swift.max(cwnd, Self.minimumWindowSegments * mss)
        if mode == .probeRTT { cwnd = Swift.min(cwnd, Self.minimumWindowSegments * mss) }
    }
}
