import Testing
@testable import NetStack

/// A deep drop-tail buffer: 2000 packets (2.9 MB) in front of a 10 MB/s link with a 20 ms round trip
/// (bandwidth-delay product 200 kB, 140 segments), and windows (8 MiB) that do not stop the sender
/// first. Standard slow start doubles the window until the buffer overflows, losing up to half a
/// window at once; HyStart++ (RFC 9406) sees the RTT grow with the queue and leaves slow start before.
@Suite("HyStart++: slow start ends before a deep buffer overflows")
struct HyStartSimulationTests {
    static let total = 10 * 1024 * 1024

    @Test("RFC 9406 §4.2: with a 2000-packet buffer, slow start ends on the RTT's growth and nothing is lost")
    func deepBuffer() {
        let forward = LinkImpairments(delay: .milliseconds(10), bytesPerSecond: 10_000_000, queueLimit: 2000)
        let backward = LinkImpairments(delay: .milliseconds(10))
        var client = TCPConfiguration()
        client.sendBufferSize = 8 << 20
        var server = TCPConfiguration()
        server.receiveBufferSize = 8 << 20
        var sim = TCPPairSimulation(
            total: Self.total, seed: 41, forward: forward, backward: backward, client: client, server: server)
        var largestWindow = 0
        sim.drainOutputs()
        while sim.steps < 5_000_000 && !sim.isDone {
            if !sim.step() { break }
            largestWindow = Swift.max(largestWindow, sim.client.sender.cwnd)
        }
        #expect(sim.isDone, "stalled at \(sim.now): received \(sim.received)")
        var expected = PatternSource(total: Self.total, seed: 41)
        expected.feed { $0.count }
        #expect(sim.sink.finish() == expected.digest(), "sha256 of the received stream differs")
        let s = sim.client.sender
        let mss = sim.client.effectiveMSS
        print("deep buffer: HyStart++ exits \(s.hyStart.exits), largest cwnd \(largestWindow / mss) segments, \(s.retransmittedSegments) resent, \(sim.clientToServer.dropped) dropped, \(Double(sim.now.nanoseconds) / 1e9) s")
        #expect(s.hyStart.exits == 1)
        // 140 segments in flight plus 2000 queued fit; standard slow start went on to double past that.
        #expect(largestWindow / mss < 2140)
        #expect(sim.clientToServer.dropped == 0)
        #expect(s.retransmittedSegments == 0)
    }
}
