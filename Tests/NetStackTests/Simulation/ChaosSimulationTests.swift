import Testing
@testable import NetStack
import Wire

/// Every fault at once, drawn per seed: loss, burst loss, duplication, reordering, a bottleneck with a
/// small queue and a delay spike longer than the RTO, in both directions. Whatever the mix, a transfer
/// completes with the right sha256: no combination of recovery states (SACK recovery, RACK, TLP,
/// F-RTO, undo) may leave the sender with data to send and no timer to send it.
@Suite("Seeded chaos: every fault mix completes")
struct ChaosSimulationTests {
    static let total = 512 * 1024

    @Test(arguments: 0..<256 as Range<UInt64>)
    func transferCompletes(seed: UInt64) {
        var draw = SeededRandom(seed: 0xC4A0_5000 &+ seed)
        func impairments() -> LinkImpairments {
            var link = LinkImpairments(delay: .microseconds(Int64(100 + draw.next() % 20_000)))
            link.loss = Double(draw.next() % 80) / 1000
            link.duplication = Double(draw.next() % 30) / 1000
            link.reordering = Double(draw.next() % 100) / 1000
            link.reorderDelay = .microseconds(Int64(draw.next() % 30_000))
            link.bytesPerSecond = [0, 2_000_000, 20_000_000][Int(draw.next() % 3)]
            link.queueLimit = link.bytesPerSecond == 0 ? 0 : Int(8 + draw.next() % 64)
            link.burstLoss = Double(draw.next() % 5) / 1000
            link.burstDuration = .milliseconds(Int64(draw.next() % 50))
            if draw.next() % 2 == 0 {
                let start = Int64(draw.next() % 2_000_000_000)
                link.stall = (NetInstant(nanoseconds: start), NetInstant(nanoseconds: start + Int64(200_000_000 + draw.next() % 1_500_000_000)))
            }
            return link
        }
        let forward = impairments()
        let backward = impairments()
        var sim = TCPPairSimulation(total: Self.total, seed: seed, forward: forward, backward: backward)
        sim.drainOutputs()
        while sim.steps < 20_000_000 && !sim.isDone {
            if !sim.step() { break }
        }
        #expect(sim.isDone, "seed \(seed): stalled at \(sim.now) with \(sim.received) of \(Self.total) bytes; forward \(forward), backward \(backward)")
        var expected = PatternSource(total: Self.total, seed: seed)
        expected.feed { $0.count }
        #expect(sim.sink.finish() == expected.digest(), "seed \(seed): sha256 of the received stream differs")
    }
}
