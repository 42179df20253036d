import Testing
@testable import NetStack
import Wire

/// A delay spike without loss: the forward path holds every packet for 500 ms, longer than the RTO.
/// The timeout is spurious; F-RTO (RFC 5682) must find that out from the two ACKs after it, resend no
/// more than the one segment of step 1, and give the window back.
@Suite("F-RTO: a delay spike is no loss")
struct ForwardRTOSimulationTests {
    static let total = 10 * 1024 * 1024
    static let stallStart = NetInstant(nanoseconds: 300_000_000)
    static let stallEnd = NetInstant(nanoseconds: 800_000_000)

    @Test("RFC 5682 §2.1: a 500 ms stall of the forward path: the RTO is declared spurious, at most the head and a tail loss probe are resent, the window comes back"    )
    func delaySpike() {
        let seed: UInt64 = 21  // nothing on this path is random; the seed only picks the data
        var forward = LinkImpairments(delay: .milliseconds(10), bytesPerSecond: 10_000_000)
        forward.stall = (Self.stallStart, Self.stallEnd)
        let backward = LinkImpairments(delay: .milliseconds(10))
        // The application has more data than the peer's 1 MiB window (RFC 5682 §2.1 step 2b needs new
        // data to send; with the send buffer the size of the window, every byte of it is in flight).
        var client = TCPConfiguration()
        client.sendBufferSize = 4 << 20
        var sim = TCPPairSimulation(total: Self.total, seed: seed, forward: forward, backward: backward, client: client)
        sim.drainOutputs()
        var windowBeforeStall: Int? = nil
        var thresholdBeforeStall = 0
        var thresholdAfterStall = 0
        var retransmissionsBeforeStall = 0
        var windowAfterStall: Int? = nil
        var retransmissionsAfterStall = 0
        // Three round trips after the held packets arrived.
        let settled = Self.stallEnd + 60_000_000
        while sim.steps < 5_000_000 && !sim.isDone {
            if !sim.step() { break }
            let s = sim.client.sender
            if windowBeforeStall == nil && sim.now >= Self.stallStart {
                windowBeforeStall = s.cwnd
                thresholdBeforeStall = s.congestion.ssthresh
                retransmissionsBeforeStall = s.retransmittedSegments
            }
            if windowAfterStall == nil && sim.now >= settled {
                windowAfterStall = s.cwnd
                thresholdAfterStall = s.congestion.ssthresh
                retransmissionsAfterStall = s.retransmittedSegments
            }
        }
        #expect(sim.isDone, "stalled at \(sim.now): received \(sim.received)")
        var expected = PatternSource(total: Self.total, seed: seed)
        expected.feed { $0.count }
        #expect(sim.sink.finish() == expected.digest(), "sha256 of the received stream differs")
        let s = sim.client.sender
        let before = windowBeforeStall ?? 0
        let after = windowAfterStall ?? 0
        let resent = retransmissionsAfterStall - retransmissionsBeforeStall
        print("delay spike, seed \(seed): \(s.timeouts) timeouts, \(s.forwardRTO.spuriousTimeouts) spurious, \(resent) resent, cwnd \(before) before, \(after) after")
        #expect(s.timeouts >= 1, "the stall must outlast the RTO")
        #expect(s.forwardRTO.spuriousTimeouts == 1)
        #expect(resent <= 2, "\(resent) segments resent for a delay spike")
        #expect(after >= before, "cwnd \(after) after the stall against \(before) before")
        #expect(thresholdAfterStall == thresholdBeforeStall, "ssthresh \(thresholdAfterStall) after, \(thresholdBeforeStall) before")
    }
}
