import Testing
import Wire
@testable import NetStack

/// The BBR-style policy alone, fed rate samples by hand: a path of 1 MB/s (1000 bytes per ms) with a
/// 10 ms round trip, so a bandwidth-delay product of 10,000 bytes, and 1000-byte segments.
@Suite("BBR congestion policy (draft-cardwell-iccrg-bbr-congestion-control)")
struct BBRCongestionControlTests {
    static let mss = 1000
    static let rtt: Int64 = 10_000_000
    static let bdp = 10_000

    /// One round's sample: `bytes` delivered over one RTT, all of it newly.
    struct Path {
        var bbr = BBRCongestionControl(mss: BBRCongestionControlTests.mss)
        var delivered = 0
        var now = NetInstant(nanoseconds: 1_000_000_000)

        /// A round trip (and a millisecond, so that a phase "longer than RTprop" ends each round).
        mutating func round(bytes: Int = BBRCongestionControlTests.bdp, inFlight: Int, rtt: Int64 = BBRCongestionControlTests.rtt) {
            now = now + (rtt + 1_000_000)
            let rs = RateSample(
                delivered: bytes, interval: BBRCongestionControlTests.rtt, priorDelivered: delivered, isAppLimited: false,
                newlyDelivered: bytes, rtt: rtt)
            delivered += bytes
            bbr.onRateSample(rs, inFlight: inFlight, now: now)
        }

        /// An ACK within the current round (its segment was sent before the round began).
        mutating func ackInRound(bytes: Int, inFlight: Int) {
            now = now + 1_000_000
            let rs = RateSample(
                delivered: bytes, interval: BBRCongestionControlTests.rtt, priorDelivered: delivered - bytes - 1,
                isAppLimited: false, newlyDelivered: bytes, rtt: nil)
            delivered += bytes
            bbr.onRateSample(rs, inFlight: inFlight, now: now)
        }

        /// Startup until the pipe is full and in-flight is back at the BDP: ProbeBW.
        mutating func reachProbeBandwidth() {
            for _ in 0..<4 { round(inFlight: BBRCongestionControlTests.bdp / 2) }
        }
    }

    @Test("Draft §4.3.1: Startup grows the window by what is delivered and paces at 2/ln 2 of the bandwidth")
    func startup() {
        var path = Path()
        #expect(path.bbr.cwnd == initialCongestionWindow(mss: Self.mss))
        path.round(bytes: 10_000, inFlight: 10_000)
        #expect(path.bbr.mode == .startup)
        #expect(path.bbr.cwnd == 20_000)
        #expect(abs(path.bbr.pacingRate - 2.885 * 1_000_000) < 1)
        #expect(path.bbr.minRTT == Self.rtt)
    }

    @Test("Draft §4.3.2: three rounds without 25 % more bandwidth end Startup; Drain ends at the BDP in flight")
    func fullPipeThenDrainThenProbe() {
        var path = Path()
        for _ in 0..<4 { path.round(inFlight: 3 * Self.bdp) }
        #expect(path.bbr.filledPipe)
        #expect(path.bbr.mode == .drain, "in-flight above the BDP: drain the queue Startup built")
        #expect(path.bbr.pacingGain < 1)
        path.round(inFlight: Self.bdp)
        #expect(path.bbr.mode == .probeBandwidth)
        #expect(path.bbr.cyclePhase == BBRCongestionControl.initialCyclePhase)
        // ProbeBW: cwnd_gain 2 times the BDP plus three pacing bursts of quantization budget.
        #expect(path.bbr.cwnd == 2 * Self.bdp + 3 * Pacer.quantum(rate: 1_000_000, mss: Self.mss))
        #expect(abs(path.bbr.pacingRate - 1_000_000) < 1)
    }

    @Test("Draft §4.3.3: ProbeBW cycles its pacing gain, one phase per round trip")
    func gainCycle() {
        var path = Path()
        path.reachProbeBandwidth()
        var gains: [Double] = []
        // In flight above 1.25·BDP: the probing phase ends after one round, like the others.
        for _ in 0..<8 {
            path.round(inFlight: 13_000)
            gains.append(path.bbr.pacingGain)
        }
        #expect(gains == [1, 1, 1, 1, 1, 1.25, 0.75, 1])
        // The probing phase lasts until in-flight reaches 1.25·BDP.
        for _ in 0..<6 { path.round(inFlight: 13_000) }
        #expect(path.bbr.pacingGain == 1.25)
        path.round(inFlight: 10_000)
        #expect(path.bbr.pacingGain == 1.25, "not yet 1.25·BDP in flight")
        path.round(inFlight: 12_500)
        #expect(path.bbr.pacingGain == 0.75)
    }

    @Test("Draft §4.2.3.4: random loss does not shrink the model: one round of packet conservation, then the saved window")
    func lossConservesPacketsThenRestores() {
        var path = Path()
        path.reachProbeBandwidth()
        let before = path.bbr.cwnd
        let bandwidth = path.bbr.bandwidth.best
        path.bbr.onCongestionEvent(flight: before, now: path.now)
        path.ackInRound(bytes: 1000, inFlight: 8000)
        #expect(path.bbr.cwnd == 9000, "in flight plus newly delivered")
        path.ackInRound(bytes: 1000, inFlight: 5000)
        #expect(path.bbr.cwnd == 9000, "conservation never lowers the window further")
        path.bbr.onRecoveryEnd()
        #expect(path.bbr.cwnd == before)
        #expect(path.bbr.bandwidth.best == bandwidth)
    }

    @Test("Draft §4.2.3.4: after a timeout the window restarts from one segment (four at the first ACK) and the model stays")
    func timeoutKeepsModel() {
        var path = Path()
        path.reachProbeBandwidth()
        let bandwidth = path.bbr.bandwidth.best
        path.bbr.onRetransmissionTimeout(flight: 20_000, now: path.now)
        #expect(path.bbr.cwnd == Self.mss)
        path.ackInRound(bytes: 1000, inFlight: 0)
        #expect(path.bbr.cwnd == BBRCongestionControl.minimumWindowSegments * Self.mss)
        #expect(path.bbr.bandwidth.best == bandwidth)
        #expect(path.bbr.minRTT == Self.rtt)
    }

    @Test("Draft §4.3.4: 10 s without a lower RTT: ProbeRTT holds four segments for 200 ms and a round, then ProbeBW again")
    func probeRTT() {
        var path = Path()
        path.reachProbeBandwidth()
        let saved = path.bbr.cwnd
        path.now = path.now + 10_100_000_000
        path.round(inFlight: 20_000, rtt: 12_000_000)
        #expect(path.bbr.mode == .probeRTT)
        #expect(path.bbr.minRTT == 12_000_000, "the expired minimum is replaced")
        #expect(path.bbr.cwnd == 4 * Self.mss)
        path.ackInRound(bytes: 1000, inFlight: 3000)
        path.now = path.now + 100_000_000
        path.round(inFlight: 3000, rtt: 12_000_000)
        #expect(path.bbr.mode == .probeRTT, "200 ms have not passed")
        path.now = path.now + 150_000_000
        path.round(inFlight: 3000, rtt: 12_000_000)
        #expect(path.bbr.mode == .probeBandwidth)
        #expect(path.bbr.cwnd >= saved)
    }
}

@Suite("Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation)")
struct DeliveryRateEstimatorTests {
    static func at(_ ms: Int64) -> NetInstant { NetInstant(nanoseconds: ms * 1_000_000) }

    @Test("§3.3: the rate is what was delivered over the longer of the send and the ACK intervals")
    func rateOverLongerInterval() {
        var rates = DeliveryRateEstimator()
        var snapshots: [DeliverySnapshot] = []
        for k in 0..<10 { snapshots.append(rates.snapshot(now: Self.at(Int64(k)), inFlight: k * 1000)) }
        // One ACK at 20 ms delivers segments 0–4 (sent 0–4 ms): ACK interval 20 ms.
        for k in 0..<5 {
            rates.segmentDelivered(bytes: 1000, snapshot: snapshots[k], sentAt: Self.at(Int64(k)), retransmitted: false, now: Self.at(20))
        }
        let first = rates.finishAck(now: Self.at(20))
        #expect(first?.delivered == 5000)
        #expect(first?.interval == 20_000_000)
        #expect(first?.rtt == 16_000_000, "of the most recently sent segment delivered")
        #expect(first?.deliveryRate(minRTT: nil) == 250_000)
        // A segment sent after those deliveries measures from them: send interval 25 − 4 ms.
        let later = rates.snapshot(now: Self.at(25), inFlight: 5000)
        #expect(later.delivered == 5000)
        rates.segmentDelivered(bytes: 1000, snapshot: later, sentAt: Self.at(25), retransmitted: false, now: Self.at(30))
        let second = rates.finishAck(now: Self.at(30))
        #expect(second?.delivered == 1000)
        #expect(second?.interval == 21_000_000)
        #expect(second?.deliveryRate(minRTT: 25_000_000) == nil, "an interval shorter than the minimum RTT says nothing")
    }

    @Test("§3.4: samples are application-limited until what was in flight then is delivered")
    func applicationLimited() {
        var rates = DeliveryRateEstimator()
        let s0 = rates.snapshot(now: Self.at(0), inFlight: 0)
        rates.applicationLimited(inFlight: 1000)
        let s1 = rates.snapshot(now: Self.at(1), inFlight: 1000)
        #expect(!s0.isAppLimited)
        #expect(s1.isAppLimited)
        rates.segmentDelivered(bytes: 1000, snapshot: s0, sentAt: Self.at(0), retransmitted: false, now: Self.at(10))
        #expect(rates.finishAck(now: Self.at(10))?.isAppLimited == false)
        #expect(rates.appLimitedUntil == 1000)
        rates.segmentDelivered(bytes: 1000, snapshot: s1, sentAt: Self.at(1), retransmitted: false, now: Self.at(11))
        #expect(rates.finishAck(now: Self.at(11))?.isAppLimited == true)
        #expect(rates.appLimitedUntil == 0, "everything in flight then is delivered")
    }

    @Test("A retransmitted segment gives no RTT sample (Karn)")
    func retransmissionNoRTT() {
        var rates = DeliveryRateEstimator()
        let s = rates.snapshot(now: Self.at(0), inFlight: 0)
        rates.segmentDelivered(bytes: 1000, snapshot: s, sentAt: Self.at(5), retransmitted: true, now: Self.at(10))
        #expect(rates.finishAck(now: Self.at(10))?.rtt == nil)
    }
}

@Suite("Windowed max filter and pacer")
struct WindowedMaxFilterAndPacerTests {
    @Test("The maximum holds for a window of rounds, then the best later sample takes over")
    func windowedMax() {
        var filter = WindowedMaxFilter(window: 10)
        filter.update(time: 0, value: 100)
        filter.update(time: 3, value: 50)
        filter.update(time: 6, value: 70)
        #expect(filter.best == 100)
        filter.update(time: 11, value: 10)
        #expect(filter.best == 70)
        filter.update(time: 30, value: 20)
        #expect(filter.best == 20)
    }

    @Test("Pacing: a quantum leaves back to back, then one segment per length over rate")
    func pacerSpacing() {
        var pacer = Pacer()
        let rate = 1_000_000.0  // 1000 bytes per ms: the quantum is two 1000-byte segments
        #expect(Pacer.quantum(rate: rate, mss: 1000) == 2000)
        var now = NetInstant(nanoseconds: 100_000_000)
        var sent = 0
        while pacer.allows(now: now) {
            pacer.sent(bytes: 1000, now: now, rate: rate, mss: 1000)
            sent += 1
        }
        #expect(sent == 2)
        #expect(pacer.nextDeparture == now + 1_000_000)
        now = now + 1_000_000
        #expect(pacer.allows(now: now))
        pacer.sent(bytes: 1000, now: now, rate: rate, mss: 1000)
        #expect(!pacer.allows(now: now))
    }
}
