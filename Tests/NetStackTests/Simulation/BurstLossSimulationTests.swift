import Testing
@testable import NetStack
import Wire

/// Conditions of a loaded machine: bursts of drops (full socket buffers) in both directions, long
/// delays, and a receiving application that stops reading for seconds (zero windows, persist).
@Suite("TCP under bursts of loss and a slow reader")
struct BurstLossSimulationTests {
    @Test("RFC 6298 §5 / RFC 9293 §3.8.6.1: bursts of loss, long delays and a slow reader never stall a transfer for 20 s", arguments: 0..<40)
    func noStall(seed: Int) {
        let s = UInt64(seed)
        var random = SeededRandom(seed: s &* 7 &+ 3)
        let burst = 2 + Int(random.next() % (seed % 3 == 0 ? 40 : 600))
        let forward = LinkImpairments(
            loss: 0.01, reordering: 0.01, delay: .milliseconds(Int64(1 + random.next() % (seed % 5 == 0 ? 300 : 20))),
            bytesPerSecond: 20_000_000, queueLimit: 200, burstLoss: 0.01, burstDuration: .milliseconds(Int64(burst)))
        let backward = LinkImpairments(
            loss: 0.01, delay: .milliseconds(1), burstLoss: 0.01,
            burstDuration: .milliseconds(Int64(2 + random.next() % (seed % 4 == 0 ? 800 : 20))))
        var server = TCPConfiguration()
        server.receiveBufferSize = seed % 2 == 0 ? 64 * 1024 : 16 * 1024
        var sim = TCPPairSimulation(total: 2 * 1024 * 1024, seed: s, forward: forward, backward: backward, server: server)
        var lastReceived = 0
        var lastProgress = NetInstant.zero
        var stalled = false
        sim.drainOutputs()
        while sim.steps < 3_000_000 && !sim.isDone {
            if !sim.step() {
                stalled = sim.received < sim.source.total
                break
            }
            // The reader pauses for up to 3 s now and then.
            if sim.now >= sim.readPausedUntil && random.chance(0.001) {
                sim.readPausedUntil = sim.now + .milliseconds(Int64(random.next() % 3000))
            }
            if sim.received != lastReceived {
                lastReceived = sim.received
                lastProgress = sim.now
            }
            if sim.received < sim.source.total && sim.now - lastProgress > 20_000_000_000 {
                stalled = true
                break
            }
        }
        let c = sim.client
        #expect(!stalled, "seed \(seed) stalled at \(sim.now): received \(sim.received), SND.UNA \(c.send.una) SND.NXT \(c.send.nxt) SND.MAX \(c.send.max) SND.WND \(c.send.window) cwnd \(c.sender.cwnd) pipe \(c.sender.pipe(una: c.send.una, sndNxt: c.send.nxt, sndMax: c.send.max)) recovery \(c.sender.inRecovery) RTO at \(String(describing: c.retransmitDeadline)) PTO at \(String(describing: c.sender.probeDeadline))")
    }
}
