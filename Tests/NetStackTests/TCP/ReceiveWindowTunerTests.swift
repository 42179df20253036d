import Testing
import Wire
@testable import NetStack

/// Receive-window auto-tuning alone (Linux `tcp_rcv_space_adjust` / `tcp_rcv_rtt_measure`).
@Suite("TCP receiver: receive-window auto-tuning")
struct ReceiveWindowTunerTests {
    static let ms: Int64 = 1_000_000
    static func at(_ milliseconds: Int64) -> NetInstant { NetInstant.zero + .milliseconds(milliseconds) }

    /// A tuner whose RTT estimate is 10 ms (from one timed window) and whose first round started at
    /// 10 ms with nothing consumed.
    func measuredTuner(initial: Int = 64 << 10, maximum: Int = 8 << 20) -> ReceiveWindowTuner {
        var tuner = ReceiveWindowTuner(initial: initial, maximum: maximum, segmentSize: 1000, enabled: true)
        tuner.dataArrived(rcvNxt: SequenceNumber(0), advertisedEdge: SequenceNumber(50_000), now: .zero)
        tuner.dataArrived(rcvNxt: SequenceNumber(50_000), advertisedEdge: SequenceNumber(100_000), now: Self.at(10))
        _ = tuner.adjust(consumed: SequenceNumber(0), now: Self.at(10), fallbackRTT: nil, poolRoom: .max)
        return tuner
    }

    @Test("The window limit starts at the initial window and grows to twice a round's consumption plus 16 segments")
    func growsToTwiceConsumptionPlusSixteenSegments() {
        var tuner = measuredTuner()
        #expect(tuner.limit == 64 << 10)
        #expect(tuner.rtt == 10 * Self.ms)
        let grew = tuner.adjust(consumed: SequenceNumber(60_000), now: Self.at(20), fallbackRTT: nil, poolRoom: .max)
        #expect(grew)
        #expect(tuner.limit == 2 * 60_000 + 16 * 1000)
        #expect(tuner.consumedPerRound == 60_000)
    }

    @Test("A round ends only after the receiver's RTT: consumption is not measured over shorter spans")
    func noAdjustmentBeforeOneRoundTrip() {
        var tuner = measuredTuner()
        let early = tuner.adjust(consumed: SequenceNumber(60_000), now: Self.at(19), fallbackRTT: nil, poolRoom: .max)
        #expect(!early)
        #expect(tuner.limit == 64 << 10)
        // The same round, ended at one RTT, counts everything consumed since it began.
        let due = tuner.adjust(consumed: SequenceNumber(90_000), now: Self.at(20), fallbackRTT: nil, poolRoom: .max)
        #expect(due)
        #expect(tuner.limit == 2 * 90_000 + 16 * 1000)
    }

    @Test("The limit never shrinks: a round that consumed less than the largest before changes nothing")
    func neverShrinks() {
        var tuner = measuredTuner()
        _ = tuner.adjust(consumed: SequenceNumber(100_000), now: Self.at(20), fallbackRTT: nil, poolRoom: .max)
        let limit = tuner.limit
        let slow = tuner.adjust(consumed: SequenceNumber(110_000), now: Self.at(30), fallbackRTT: nil, poolRoom: .max)
        #expect(!slow)
        #expect(tuner.limit == limit)
        #expect(tuner.consumedPerRound == 100_000)
    }

    @Test("A round must consume more than the initial window's 10 segments (Linux TCP_INIT_CWND) to grow the limit")
    func firstRoundThreshold() {
        var tuner = measuredTuner()
        let small = tuner.adjust(consumed: SequenceNumber(10_000), now: Self.at(20), fallbackRTT: nil, poolRoom: .max)
        #expect(!small)
        #expect(tuner.limit == 64 << 10)
    }

    @Test("Bounded by the connection's receive buffer")
    func boundedByBuffer() {
        var tuner = measuredTuner(maximum: 200_000)
        _ = tuner.adjust(consumed: SequenceNumber(500_000), now: Self.at(20), fallbackRTT: nil, poolRoom: .max)
        #expect(tuner.limit == 200_000)
    }

    @Test("Bounded by what the node-wide buffer pool can still supply (tcpBufferMemoryLimit)")
    func boundedByNodeBudget() {
        var tuner = measuredTuner()
        let grew = tuner.adjust(consumed: SequenceNumber(500_000), now: Self.at(20), fallbackRTT: nil, poolRoom: 8192)
        #expect(grew)
        #expect(tuner.limit == (64 << 10) + 8192)
        let exhausted = tuner.adjust(
            consumed: SequenceNumber(1_500_000), now: Self.at(30), fallbackRTT: nil, poolRoom: 0)
        #expect(!exhausted)
        #expect(tuner.limit == (64 << 10) + 8192)
    }

    @Test("The receiver's RTT: time for RCV.NXT to reach an advertised right edge, smallest sample kept")
    func receiverRTTFromAdvertisedEdge() {
        var tuner = ReceiveWindowTuner(initial: 64 << 10, maximum: 8 << 20, segmentSize: 1000, enabled: true)
        tuner.dataArrived(rcvNxt: SequenceNumber(0), advertisedEdge: SequenceNumber(64_000), now: .zero)
        tuner.dataArrived(rcvNxt: SequenceNumber(30_000), advertisedEdge: SequenceNumber(64_000), now: Self.at(5))
        #expect(tuner.rtt == 0, "the edge is not reached yet")
        tuner.dataArrived(rcvNxt: SequenceNumber(64_000), advertisedEdge: SequenceNumber(130_000), now: Self.at(30))
        #expect(tuner.rtt == 30 * Self.ms)
        tuner.dataArrived(rcvNxt: SequenceNumber(130_000), advertisedEdge: SequenceNumber(200_000), now: Self.at(42))
        #expect(tuner.rtt == 12 * Self.ms)
        tuner.dataArrived(rcvNxt: SequenceNumber(200_000), advertisedEdge: SequenceNumber(300_000), now: Self.at(62))
        #expect(tuner.rtt == 12 * Self.ms, "a longer sample does not replace a shorter one")
    }

    @Test("Without a receiver RTT sample, the connection's smoothed RTT times the rounds; without either, none end")
    func fallbackRTT() {
        var tuner = ReceiveWindowTuner(initial: 64 << 10, maximum: 8 << 20, segmentSize: 1000, enabled: true)
        _ = tuner.adjust(consumed: SequenceNumber(0), now: .zero, fallbackRTT: nil, poolRoom: .max)
        let none = tuner.adjust(consumed: SequenceNumber(100_000), now: Self.at(50), fallbackRTT: nil, poolRoom: .max)
        #expect(!none)
        let handshake = tuner.adjust(
            consumed: SequenceNumber(100_000), now: Self.at(50), fallbackRTT: 20 * Self.ms, poolRoom: .max)
        #expect(handshake)
        #expect(tuner.limit == 2 * 100_000 + 16 * 1000)
    }

    @Test("Auto-tuning off: the limit is the whole receive buffer and never moves")
    func disabledIsFixedWindow() {
        var tuner = ReceiveWindowTuner(initial: 64 << 10, maximum: 1 << 20, segmentSize: 1000, enabled: false)
        #expect(tuner.limit == 1 << 20)
        _ = tuner.adjust(consumed: SequenceNumber(0), now: .zero, fallbackRTT: Self.ms, poolRoom: .max)
        let grew = tuner.adjust(consumed: SequenceNumber(900_000), now: Self.at(10), fallbackRTT: Self.ms, poolRoom: .max)
        #expect(!grew)
        #expect(tuner.limit == 1 << 20)
    }
}
