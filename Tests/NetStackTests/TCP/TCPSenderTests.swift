import Testing
import Wire
@testable import NetStack

/// The sender's parts alone: congestion policies, the SACK scoreboard and loss recovery.
@Suite("TCP sender: congestion control")
struct CongestionControlTests {
    @Test("RFC 5681 eq. 4 / RFC 6582 §3.2: a congestion event halves the flight; recovery ends at ssthresh")
    func newRenoCongestionEvent() {
        var cc = NewRenoCongestionControl(mss: 1000)
        #expect(cc.cwnd == 10_000)  // RFC 6928
        cc.onCongestionEvent(flight: 10_000, now: .zero)
        #expect(cc.ssthresh == 5000 && cc.cwnd == 5000)
        cc.onRecoveryEnd()
        #expect(cc.cwnd == 5000)
        // Congestion avoidance: one SMSS per cwnd acknowledged (RFC 5681 §3.1).
        cc.onAck(acked: 5000, now: .zero, rtt: nil)
        #expect(cc.cwnd == 6000)
    }

    @Test("RFC 5681 §3.1: a timeout sets cwnd to one segment and ssthresh to half the flight")
    func newRenoTimeout() {
        var cc = NewRenoCongestionControl(mss: 1000)
        cc.onRetransmissionTimeout(flight: 9000, now: .zero)
        #expect(cc.cwnd == 1000)
        #expect(cc.ssthresh == 4500)
        cc.onAck(acked: 1000, now: .zero, rtt: nil)
        #expect(cc.cwnd == 2000)  // slow start
    }

    @Test("RFC 5681 §3.1 / RFC 3465 §2: a stretch ACK in slow start grows cwnd by all the bytes it acknowledges, never past ssthresh")
    func slowStartStretchAck() {
        var reno = NewRenoCongestionControl(mss: 1000)
        reno.onAck(acked: 8000, now: .zero, rtt: nil)
        #expect(reno.cwnd == 18_000)
        reno.onRetransmissionTimeout(flight: 20_000, now: .zero)  // ssthresh 10000, cwnd 1000
        reno.onAck(acked: 16_000, now: .zero, rtt: nil)
        #expect(reno.cwnd == 10_000)
        var cubic = CubicCongestionControl(mss: 1000)
        cubic.onAck(acked: 8000, now: .zero, rtt: nil)
        #expect(cubic.cwnd == 18_000)
    }

    @Test("RFC 9438 §4.6: a congestion event multiplies cwnd by β_cubic = 0.7")
    func cubicMultiplicativeDecrease() {
        var cc = CubicCongestionControl(mss: 1000)
        for _ in 0..<90 { cc.onAck(acked: 1000, now: .zero, rtt: nil) }
        #expect(cc.cwnd == 100_000)
        cc.onCongestionEvent(flight: 100_000, now: .zero)
        #expect(cc.ssthresh == 70_000 && cc.cwnd == 70_000)
        #expect(cc.wMax == 100)
    }

    @Test("RFC 9438 §4.7: fast convergence lowers W_max when a reduction comes below the previous W_max")
    func cubicFastConvergence() {
        var cc = CubicCongestionControl(mss: 1000)
        for _ in 0..<90 { cc.onAck(acked: 1000, now: .zero, rtt: nil) }
        cc.onCongestionEvent(flight: 100_000, now: .zero)  // W_max = 100
        cc.onCongestionEvent(flight: 70_000, now: .zero)  // cwnd 70 < 100: W_max = 70 · 1.7 / 2
        #expect(abs(cc.wMax - 59.5) < 1e-9)
    }

    @Test("RFC 9438 §4.2: K = ∛(W_max·(1−β)/C), and the window regains W_max after K seconds")
    func cubicConcaveGrowthReachesWMaxAtK() {
        var cc = CubicCongestionControl(mss: 1000)
        for _ in 0..<90 { cc.onAck(acked: 1000, now: .zero, rtt: nil) }
        cc.onCongestionEvent(flight: 100_000, now: .zero)
        cc.onRecoveryEnd()
        let start = NetInstant(nanoseconds: 1_000_000_000)
        cc.onAck(acked: 1000, now: start, rtt: 100_000_000)
        let expectedK = CubicCongestionControl.cubeRoot(100 * 0.3 / 0.4)
        #expect(abs(cc.k - expectedK) < 1e-6)
        // ACK a window every RTT (100 ms, long enough that CUBIC, not W_est, governs) until t + RTT = K:
        // cwnd climbs to about W_max.
        var t = start
        while t - start + 100_000_000 < Int64(expectedK * 1e9) {
            t = t + 100_000_000
            cc.onAck(acked: cc.cwnd, now: t, rtt: 100_000_000)
        }
        #expect(cc.cwnd >= 98_000 && cc.cwnd <= 103_000, "cwnd \(cc.cwnd) at t = K")
    }

    @Test("RFC 9438 §4.3: in the Reno-friendly region cwnd grows at least like W_est")
    func cubicRenoFriendly() {
        var cc = CubicCongestionControl(mss: 1000)
        cc.onCongestionEvent(flight: 10_000, now: .zero)  // small window: K is short, W_est dominates early
        cc.onRecoveryEnd()
        let before = cc.cwnd
        var t = NetInstant.zero
        for _ in 0..<20 {
            t = t + 1_000_000
            cc.onAck(acked: cc.cwnd, now: t, rtt: 1_000_000)
        }
        #expect(cc.cwnd > before)
    }
}

@Suite("TCP sender: SACK scoreboard (RFC 6675 §3-4)")
struct SACKScoreboardTests {
    func blocks(_ pairs: (UInt32, UInt32)...) -> TCPSACKBlocks {
        TCPSACKBlocks(pairs.map { TCPSACKBlock(left: $0.0, right: $0.1) })
    }

    @Test("RFC 6675 §3: SACK blocks merge into sorted ranges; newly SACKed bytes are counted once")
    func mergesRanges() {
        var board = SACKScoreboard()
        let una = SequenceNumber(1000)
        let max = SequenceNumber(20_000)
        #expect(board.update(blocks: blocks((3000, 4000)), ack: una, una: una, sndMax: max).newlySacked == 1000)
        #expect(board.update(blocks: blocks((5000, 6000), (3000, 4000)), ack: una, una: una, sndMax: max).newlySacked == 1000)
        #expect(board.update(blocks: blocks((3500, 5500)), ack: una, una: una, sndMax: max).newlySacked == 1000)
        #expect(board.ranges == [.init(left: SequenceNumber(3000), right: SequenceNumber(6000))])
        #expect(board.sackedBytes == 3000)
        board.advance(to: SequenceNumber(4000))
        #expect(board.sackedBytes == 2000)
    }

    @Test("RFC 2883 §4: a first block below the cumulative ACK, or inside the second block, is a D-SACK")
    func detectsDuplicateSack() {
        var board = SACKScoreboard()
        let max = SequenceNumber(20_000)
        let below = board.update(blocks: blocks((1000, 2000)), ack: SequenceNumber(3000), una: SequenceNumber(3000), sndMax: max)
        #expect(below.duplicateBytes == 1000 && below.newlySacked == 0)
        let inside = board.update(
            blocks: blocks((5000, 6000), (4000, 8000)), ack: SequenceNumber(3000), una: SequenceNumber(3000), sndMax: max)
        #expect(inside.duplicateBytes == 1000 && inside.newlySacked == 4000)
    }

    @Test("RFC 6675 §4 IsLost: a hole is lost with DupThresh SACKed ranges or more than 2·SMSS SACKed above it")
    func lossBoundary() {
        var board = SACKScoreboard()
        let una = SequenceNumber(0)
        let max = SequenceNumber(100_000)
        _ = board.update(blocks: blocks((2000, 3000)), ack: una, una: una, sndMax: max)
        #expect(board.lossBoundary(duplicateThreshold: 3, smss: 1000) == nil)
        _ = board.update(blocks: blocks((4000, 6000)), ack: una, una: una, sndMax: max)
        // 3000 bytes above 2000, > 2·SMSS: everything unSACKed below 2000 is lost.
        #expect(board.lossBoundary(duplicateThreshold: 3, smss: 1000) == SequenceNumber(2000))
        _ = board.update(blocks: blocks((7000, 7100), (8000, 8100), (9000, 9100)), ack: una, una: una, sndMax: max)
        // Three discontiguous ranges above 7000.
        #expect(board.lossBoundary(duplicateThreshold: 3, smss: 1000) == SequenceNumber(7000))
        #expect(board.nextUnsacked(from: SequenceNumber(2000)) == (SequenceNumber(3000), 1000))
        #expect(board.nextUnsacked(from: SequenceNumber(9050)).seq == SequenceNumber(9100))
    }
}

@Suite("TCP sender: loss recovery (RFC 6675, RFC 6582, RFC 2883)")
struct LossRecoveryTests {
    let una = SequenceNumber(1000)
    let max = SequenceNumber(11_000)  // ten 1000-byte segments in flight

    func sack(_ pairs: (Int, Int)...) -> TCPSACKBlocks {
        TCPSACKBlocks(pairs.map { TCPSACKBlock(left: (una + $0.0).rawValue, right: (una + $0.1).rawValue) })
    }

    func sackSender() -> TCPSender {
        var s = TCPSender(algorithm: .newReno, mss: 1000, iss: una - 1)
        s.enableSACK()
        return s
    }

    @Test("RFC 6675 §5: SACKs for more than 2·SMSS above SND.UNA start recovery and the head is resent")
    func sackEntersRecovery() {
        var s = sackSender()
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 2000)), isDuplicate: true, now: .zero, rtt: nil)
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 3000)), isDuplicate: true, now: .zero, rtt: nil)
        #expect(!s.inRecovery)
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 4000)), isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.inRecovery && s.retransmitHeadDue)
        #expect(s.congestion.ssthresh == 5000)  // RFC 6675 §5 step 4.2: FlightSize / 2
        #expect(s.recoveryPoint == max)
    }

    @Test("RFC 6675 §4 SetPipe: SACKed and lost bytes leave the pipe, retransmitted ones re-enter it")
    func pipeAccounting() {
        var s = sackSender()
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 4000)), isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.inRecovery)
        // 10000 outstanding − 3000 SACKed − 1000 lost (the head) = 6000.
        #expect(s.pipe(una: una, sndNxt: max, sndMax: max) == 6000)
        s.didRetransmit(seq: una, length: 1000, sndMax: max, now: .zero)
        #expect(s.pipe(una: una, sndNxt: max, sndMax: max) == 7000)
    }

    @Test("RFC 6675 §4 NextSeg rule 1: the next lost unSACKed range above HighRxt, at most one SMSS")
    func nextSegRuleOne() {
        var s = sackSender()
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 2000), (3000, 6000)), isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.inRecovery)
        s.retransmitHeadDue = false
        s.didRetransmit(seq: una, length: 1000, sndMax: max, now: .zero)
        let next = s.nextRetransmission(una: una, sndMax: max)
        #expect(next?.seq == una + 2000 && next?.length == 1000)
        s.didRetransmit(seq: una + 2000, length: 1000, sndMax: max, now: .zero)
        #expect(s.nextRetransmission(una: una, sndMax: max) == nil, "nothing above 6000 is lost")
    }

    @Test("RFC 6582 §3.2: without SACK, three duplicate ACKs enter recovery, a partial ACK resends the next hole, a full ACK ends it")
    func newRenoRecovery() {
        var s = TCPSender(algorithm: .newReno, mss: 1000, iss: una - 1)
        for _ in 0..<2 {
            s.onAck(ack: una, oldUna: una, sndMax: max, blocks: [], isDuplicate: true, now: .zero, rtt: nil)
        }
        #expect(!s.inRecovery)
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: [], isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.inRecovery && s.retransmitHeadDue)
        s.retransmitHeadDue = false
        // cwnd = ssthresh = 5000; pipe = 10000 − 3 dupacks · SMSS (RFC 6582's inflation by 3·SMSS).
        #expect(s.pipe(una: una, sndNxt: max, sndMax: max) == 7000)
        s.onAck(ack: una + 3000, oldUna: una, sndMax: max, blocks: [], isDuplicate: false, now: .zero, rtt: nil)
        #expect(s.inRecovery && s.retransmitHeadDue, "partial ACK")
        s.onAck(ack: max, oldUna: una + 3000, sndMax: max, blocks: [], isDuplicate: false, now: .zero, rtt: nil)
        #expect(!s.inRecovery)
        #expect(s.cwnd == 5000)
    }

    @Test("RFC 6582 §4: after a timeout, duplicate ACKs below the recovery point do not start another recovery")
    func noRecoveryBelowRecoverAfterTimeout() {
        var s = TCPSender(algorithm: .newReno, mss: 1000, iss: una - 1)
        s.onRetransmissionTimeout(una: una, sndMax: max, consecutive: 1, now: .zero)
        for _ in 0..<3 {
            s.onAck(ack: una, oldUna: una, sndMax: max, blocks: [], isDuplicate: true, now: .zero, rtt: nil)
        }
        #expect(!s.inRecovery)
    }

    @Test("RFC 6675 §5 / §5.1, RFC 6582 §3.2: once HighACK reaches RecoveryPoint, a loss of the first segment sent after it starts a new recovery")
    func recoveryAgainWhenAckReachesRecoveryPoint() {
        var s = sackSender()
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 4000)), isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.inRecovery && s.recoveryPoint == max)
        // The full ACK of RecoveryPoint (= HighData + 1, our SND.MAX at entry) ends recovery.
        let newMax = max + 10_000
        s.onAck(ack: max, oldUna: una, sndMax: newMax, blocks: [], isDuplicate: false, now: .zero, rtt: nil)
        #expect(!s.inRecovery)
        // The segment at the old SND.MAX (the first sent after RecoveryPoint) is lost; three above it are
        // SACKed. HighACK ≥ RecoveryPoint (RFC 6675 §5.1), so this is a new loss: recover it now, not at
        // the RTO.
        let blocks = TCPSACKBlocks([TCPSACKBlock(left: (max + 1000).rawValue, right: (max + 4000).rawValue)])
        s.onAck(ack: max, oldUna: max, sndMax: newMax, blocks: blocks, isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.inRecovery && s.retransmitHeadDue)
        #expect(s.recoveryPoint == newMax)
    }

    @Test("RFC 6582 §3.2 step 1: without SACK, three duplicate ACKs at exactly `recover` + 1 (SND.MAX at the last entry) start a new recovery")
    func newRenoRecoveryAgainAtRecover() {
        var s = TCPSender(algorithm: .newReno, mss: 1000, iss: una - 1)
        for _ in 0..<3 {
            s.onAck(ack: una, oldUna: una, sndMax: max, blocks: [], isDuplicate: true, now: .zero, rtt: nil)
        }
        #expect(s.inRecovery)
        let newMax = max + 10_000
        s.onAck(ack: max, oldUna: una, sndMax: newMax, blocks: [], isDuplicate: false, now: .zero, rtt: nil)
        #expect(!s.inRecovery)
        for _ in 0..<3 {
            s.onAck(ack: max, oldUna: max, sndMax: newMax, blocks: [], isDuplicate: true, now: .zero, rtt: nil)
        }
        #expect(s.inRecovery, "the ACK covers all of recover (the highest sequence number sent, SND.MAX − 1)")
    }

    @Test("RFC 8985 §6.2 (in send order): the retransmission at SND.UNA is lost again once a retransmission sent after it is SACKed")
    func lostRetransmissionDetected() {
        var s = sackSender()
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 2000), (3000, 6000)), isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.inRecovery)
        s.retransmitHeadDue = false
        s.didRetransmit(seq: una, length: 1000, sndMax: max, now: .zero)          // hole 1 (at SND.UNA)
        s.didRetransmit(seq: una + 2000, length: 1000, sndMax: max, now: .zero)   // hole 2, sent after it
        // Hole 2's retransmission arrives (SACKed); hole 1's does not.
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 6000)), isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.lostRetransmissions == 1)
        #expect(s.retransmitHeadDue)
    }

    @Test("RFC 2883 §5: when D-SACKs cover every retransmission of an episode, the congestion state is restored")
    func dsackUndo() {
        var s = sackSender()
        let cwndBefore = s.cwnd
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 4000)), isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.inRecovery && s.cwnd < cwndBefore)
        s.didRetransmit(seq: una, length: 1000, sndMax: max, now: .zero)
        // The original arrived after all (reordering): the cumulative ACK covers everything, then the
        // retransmission is reported as a duplicate.
        s.onAck(ack: max, oldUna: una, sndMax: max, blocks: [], isDuplicate: false, now: .zero, rtt: nil)
        s.onAck(ack: max, oldUna: max, sndMax: max, blocks: sack((0, 1000)), isDuplicate: false, now: .zero, rtt: nil)
        #expect(s.undoCount == 1)
        #expect(s.cwnd == cwndBefore)
    }

    @Test("RFC 2883 §4: a first block that repeats data already SACKed, above the ACK and not inside the second block, is no D-SACK and undoes no recovery")
    func repeatedSackBlockIsNotDuplicate() {
        var board = SACKScoreboard()
        _ = board.update(blocks: sack((5000, 8000)), ack: una, una: una, sndMax: max)
        // The receiver keeps listing its latest block first (RFC 2018 §4), e.g. on the ACK that advances.
        let repeated = board.update(blocks: sack((5000, 8000)), ack: una + 1000, una: una + 1000, sndMax: max)
        #expect(repeated.duplicateBytes == 0 && repeated.duplicate == nil)
        // In a recovery: holes at 0 and 4000 resent; the ACK for the first resend repeats the block above
        // the second hole. That is progress, not a D-SACK of the resends.
        var s = sackSender()
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 4000), (5000, 9000)), isDuplicate: true, now: .zero, rtt: nil)
        #expect(s.inRecovery)
        let reduced = s.cwnd
        s.didRetransmit(seq: una, length: 1000, sndMax: max, now: .zero)
        s.didRetransmit(seq: una + 4000, length: 1000, sndMax: max, now: .zero)
        s.onAck(ack: una + 4000, oldUna: una, sndMax: max, blocks: sack((5000, 9000)), isDuplicate: false, now: .zero, rtt: nil)
        #expect(s.undoCount == 0)
        #expect(s.inRecovery && s.cwnd == reduced)
    }
}
