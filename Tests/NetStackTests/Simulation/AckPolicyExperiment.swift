import Foundation
import Testing
@testable import NetStack
import Wire

/// Diagnostic (run by hand with WIRENET_ACK_EXPERIMENT=1): the sub-millisecond 5 % loss transfer over
/// many seeds with the receiver's quick-ACK re-entry and SACK compression on and off; prints the
/// sender's timeouts per seed and the trace before each timeout.
@Suite("ACK policy experiment", .enabled(if: ProcessInfo.processInfo.environment["WIRENET_ACK_EXPERIMENT"] != nil))
struct AckPolicyExperiment {
    func run(seed: UInt64, reentry: Bool, compression: Bool, stretch: Bool, loss: Double, traceTimeouts: Bool) -> (Double, Int) {
        let link = LinkImpairments(loss: loss, delay: .microseconds(50), bytesPerSecond: 62_500_000, queueLimit: 1000)
        var config = TCPConfiguration()
        config.quickAckReentry = reentry
        config.sackCompression = compression
        config.stretchAckSegments = stretch ? 4 : 2
        var sim = TCPPairSimulation(
            total: SubMillisecondLossSimulationTests.total, seed: seed, forward: link, backward: link,
            client: config, server: config)
        if traceTimeouts { sim.trace = [] }
        sim.drainOutputs()
        var establishedAt: NetInstant? = nil
        var completedAt: NetInstant? = nil
        var timeouts = 0
        while sim.steps < 5_000_000 && !sim.isDone {
            if !sim.step() { break }
            if establishedAt == nil && sim.client.state.isSynchronized { establishedAt = sim.now }
            if completedAt == nil && sim.received == SubMillisecondLossSimulationTests.total { completedAt = sim.now }
            if sim.client.sender.timeouts != timeouts {
                timeouts = sim.client.sender.timeouts
                if traceTimeouts, let trace = sim.trace {
                    print("== seed \(seed) reentry \(reentry) compression \(compression) stretch \(stretch): timeout \(timeouts) at \(sim.now)")
                    for line in trace { print("   " + line) }
                }
            }
        }
        let seconds = Double(((completedAt ?? sim.now) - (establishedAt ?? .zero))) / 1e9
        return (seconds, sim.client.sender.timeouts)
    }

    @Test("timeouts per seed")
    func sweep() {
        let env = ProcessInfo.processInfo.environment
        let seeds = (UInt64(env["SEED_FIRST"] ?? "7") ?? 7)...(UInt64(env["SEED_LAST"] ?? "11") ?? 11)
        let traced = env["TRACE"] != nil
        var totals: [String: (Double, Int)] = [:]
        let loss = Double(env["LOSS"] ?? "0.05") ?? 0.05
        let variants: [(Bool, Bool, Bool)] = [(false, false, false), (true, false, false), (false, true, false), (false, false, true), (true, true, true)]
        for seed in seeds {
            var line = "seed \(seed):"
            for (reentry, compression, stretch) in variants {
                let (s, t) = run(
                    seed: seed, reentry: reentry, compression: compression, stretch: stretch, loss: loss,
                    traceTimeouts: traced && reentry && !compression && !stretch)
                let key = "r\(reentry ? 1 : 0)c\(compression ? 1 : 0)s\(stretch ? 1 : 0)"
                totals[key, default: (0, 0)].0 += s
                totals[key, default: (0, 0)].1 += t
                line += String(format: "  %@ %.3f s %d RTO;", key, s, t)
            }
            print(line)
        }
        for (key, value) in totals.sorted(by: { $0.key < $1.key }) {
            print("total \(key): \(value.0) s, \(value.1) RTO over \(seeds.count) seeds")
        }
    }
}
