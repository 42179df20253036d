import Testing
import Wire
@testable import NetStack

/// How long a 10 MB transfer may take (until the receiver has read the last byte) on a lossy link, against the same transfer on the loss-free link.
///
/// The model: T(loss) ≤ 2·T(clean) + E·RTT + E₂·RTO, where, for N = 10 MB / MSS data segments and
/// a loss probability p per packet in each direction,
/// - E = N·p is the expected number of lost data segments, each charged one recovery round (one
///   RTT: with SACK a loss is found by the ACKs of the segments after it and resent within a round,
///   RFC 6675 §5; several holes of one window share that round, so this overcounts);
/// - E₂ = N·p² + 1 is the expected number of retransmissions that are lost again, plus the tail of the
///   transfer, each charged one RTO (200 ms floor, the retransmission timer is the only detector of a
///   lost retransmission without RACK, RFC 8985).
/// ACK loss costs nothing extra in this model: ACKs are cumulative and SACK blocks are repeated
/// (RFC 2018 §4). The factor 2 on the clean time covers the smaller congestion window after each
/// reduction (CUBIC's β = 0.7, RFC 9438 §4.6).
@Suite("Loss recovery in the simulated network: time bounds")
struct LossRecoverySimulationTests {
    static let total = 10 * 1024 * 1024
    static let oneWayDelay = Duration.milliseconds(5)
    static let rate = 100_000_000  // bytes per second: a 1 MB bandwidth-delay product

    func run(loss: Double, reordering: Double, seed: UInt64) throws -> (seconds: Double, packets: Int) {
        let link = LinkImpairments(
            loss: loss, reordering: reordering, delay: Self.oneWayDelay, reorderDelay: .milliseconds(2),
            bytesPerSecond: Self.rate)
        var sim = try StackPairSimulation(
            total: Self.total, seed: seed, family: .v4, mtu: 1420, forward: link, backward: link)
        let finished = sim.run()
        #expect(finished, "stalled at \(sim.now): received \(sim.received)")
        var expected = PatternSource(total: Self.total, seed: seed)
        expected.feed { $0.count }
        #expect(sim.sink.finish() == expected.digest(), "sha256 of the received stream differs")
        return (Double((sim.completedAt ?? sim.now).nanoseconds) / 1e9, sim.packets)
    }

    @Test(
        "10 MB at 1 %, 5 % and 10 % loss with 2 % reordering finish within 2·T(clean) + E·RTT + E₂·RTO",
        .disabled(
            """
            Not met yet (seed 32: 1 % → 4.9 s, 5 % → 17.5 s, 10 % → 5.1 s against bounds of 1.5, 8.2 and 23.5 s; \
            clean 0.18 s): spurious recoveries from 2 ms reordering and chains of RTOs when small windows \
            lose more than DupThresh can detect. Needs RACK's time-based detection (RFC 8985 §6).
            """),
        arguments: [0.01, 0.05, 0.10])
    func lossWithinModel(loss: Double) throws {
        let clean = try run(loss: 0, reordering: 0, seed: 31)
        let lossy = try run(loss: loss, reordering: 0.02, seed: 32)
        let mss = 1420 - 40 - 12  // IPv4 and TCP headers, timestamps option
        let segments = Double(Self.total) / Double(mss)
        let roundTrip = 2 * Double(Self.oneWayDelay.saturatedNanoseconds) / 1e9
        let recoveryRounds = segments * loss
        let timeouts = segments * loss * loss + 1
        let bound = 2 * clean.seconds + recoveryRounds * roundTrip + timeouts * 0.2
        print("loss \(loss): clean \(clean.seconds) s, lossy \(lossy.seconds) s, bound \(bound) s (E = \(recoveryRounds), E2 = \(timeouts))")
        #expect(lossy.seconds <= bound, "\(lossy.seconds) s against a bound of \(bound) s")
    }
}
