import Testing
import Wire
@testable import NetStack

/// How long a 10 MB transfer may take (until the receiver has read the last byte) on a lossy link,
/// against the same transfer on the loss-free link.
///
/// The model: T(p) ≤ 2·(T(clean) + R(p)·RTT) + E₂·RTO, where for N = 10 MB / MSS data segments and
/// a loss probability p per packet in each direction:
/// - R(p) = N / (√(3/2) / √p) is the number of round trips a standard congestion control needs to
///   carry N segments at random loss p (the Mathis et al. window, W = √(3/(2p)) segments per RTT, which
///   CUBIC's Reno-friendly region also follows at these RTTs, RFC 9438 §4.3): each loss costs one
///   recovery round and halves the window it then regrows;
/// - E₂ = N·p² + 1 retransmissions that are lost again (plus the tail of the transfer), each charged one
///   RTO at the 200 ms floor.
/// The factor 2 covers ACK loss (the same p in the other direction), reordering, and the variance of one
/// seeded run.
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
        "10 MB at 1 % and 5 % loss with 2 % reordering finish within 2·(T(clean) + R(p)·RTT) + E₂·RTO",
        arguments: [0.01, 0.05])
    func lossWithinModel(loss: Double) throws {
        try check(loss: loss)
    }

    @Test(
        "10 MB at 10 % loss with 2 % reordering finishes within 2·(T(clean) + R(p)·RTT) + E₂·RTO")
    func tenPercentLossWithinModel() throws {
        try check(loss: 0.10)
    }

    func check(loss: Double) throws {
        let clean = try run(loss: 0, reordering: 0, seed: 31)
        let lossy = try run(loss: loss, reordering: 0.02, seed: 32)
        let mss = 1420 - 40 - 12  // IPv4 and TCP headers, timestamps option
        let segments = Double(Self.total) / Double(mss)
        let roundTrip = 2 * Double(Self.oneWayDelay.saturatedNanoseconds) / 1e9
        let recoveryRounds = segments / ((1.5).squareRoot() / loss.squareRoot())
        let timeouts = segments * loss * loss + 1
        let bound = 2 * (clean.seconds + recoveryRounds * roundTrip) + timeouts * 0.2
        print("loss \(loss): clean \(clean.seconds) s, lossy \(lossy.seconds) s, bound \(bound) s (R = \(recoveryRounds), E2 = \(timeouts))")
        #expect(lossy.seconds <= bound, "\(lossy.seconds) s against a bound of \(bound) s")
    }
}
