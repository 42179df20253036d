import Testing
import Wire
@testable import NetStack

/// RACK time-based loss detection (RFC 8985 §6) alone and inside the sender's recovery.
@Suite("TCP sender: RACK (RFC 8985 §6)")
struct RACKTests {
    let una = SequenceNumber(1000)
    let ms: Int64 = 1_000_000

    func at(_ milliseconds: Double) -> NetInstant { NetInstant(nanoseconds: Int64(milliseconds * 1e6)) }

    func scoreboard(_ pairs: (Int, Int)...) -> SACKScoreboard {
        var s = SACKScoreboard()
        let blocks = TCPSACKBlocks(pairs.map { TCPSACKBlock(left: (una + $0.0).rawValue, right: (una + $0.1).rawValue) })
        _ = s.update(blocks: blocks, ack: una, una: una, sndMax: una + 100_000)
        return s
    }

    /// Three 1000-byte segments sent at 0, 1 and 2 ms.
    func threeSent() -> RACK {
        var rack = RACK()
        for k in 0..<3 {
            rack.onSent(seq: una + k * 1000, end: una + (k + 1) * 1000, now: at(Double(k)), retransmission: false)
        }
        return rack
    }

    @Test("RFC 8985 §6.2 steps 1–2: the most recently sent delivered segment sets RACK.xmit_ts and RACK.rtt")
    func deliveredSegmentSetsRackState() {
        var rack = threeSent()
        rack.onAck(una: una, scoreboard: scoreboard((2000, 3000)), now: at(12))
        #expect(rack.deliveredSentAt == at(2) && rack.deliveredEnd == una + 3000)
        #expect(rack.rtt == 10 * ms && rack.minRTT == 10 * ms)
    }

    @Test("RFC 8985 §6.2 step 5: a segment sent before the delivered one is lost once RACK.rtt + reo_wnd has passed since it was sent; the reordering timer (§6.3) covers the wait")
    func marksLostAfterRttPlusReorderingWindow() {
        var rack = threeSent()
        rack.onAck(una: una, scoreboard: scoreboard((2000, 3000)), now: at(12))
        let window = rack.reorderingWindow(inRecovery: false, smoothedRTT: 10 * ms)
        #expect(window == 10 * ms / 4, "RFC 8985 §6.2 step 4: min_RTT / 4")
        // Segment 0 was sent at 0: lost at 0 + 10 + 2.5 ms; segment 1 at 1 + 10 + 2.5 ms.
        var result = rack.detectLoss(now: at(12), reorderingWindow: window)
        #expect(result.newlyLost == 0 && result.timer == at(12.5))
        result = rack.detectLoss(now: at(12.5), reorderingWindow: window)
        #expect(result.newlyLost == 1000 && result.timer == at(13.5))
        #expect(rack.firstLost?.seq == una)
        #expect(rack.lostBytes == 1000)
    }

    @Test("RFC 8985 §6.2 step 5: a retransmission is lost again when a segment sent after it is delivered")
    func lostRetransmission() {
        var rack = threeSent()
        rack.onAck(una: una, scoreboard: scoreboard((2000, 3000)), now: at(12))
        _ = rack.detectLoss(now: at(14), reorderingWindow: 0)
        #expect(rack.firstLost?.seq == una)
        rack.onSent(seq: una, end: una + 1000, now: at(20), retransmission: true)
        #expect(rack.firstLost?.seq == una + 1000, "the retransmission clears segment 0's mark")
        rack.onSent(seq: una + 1000, end: una + 2000, now: at(21), retransmission: true)
        // Segment 1's retransmission arrives (10 ms ≥ min_RTT: not the original); segment 0's does not.
        rack.onAck(una: una, scoreboard: scoreboard((1000, 3000)), now: at(31))
        let result = rack.detectLoss(now: at(31), reorderingWindow: 0)
        #expect(result.newlyLost == 1000 && rack.firstLost?.seq == una)
    }

    @Test("The count of records marked lost follows every mark and clear (lost, resent, SACKed, cumulatively ACKed, timeout)")
    func lostRecordCountFollowsMarks() {
        var rack = threeSent()
        func consistent() -> Bool { rack.lostRecordCount == rack.records.filter(\.lost).count }
        rack.onAck(una: una, scoreboard: scoreboard((2000, 3000)), now: at(12))
        _ = rack.detectLoss(now: at(14), reorderingWindow: 0)
        #expect(rack.lostRecordCount == 2 && consistent())
        rack.onSent(seq: una, end: una + 1000, now: at(20), retransmission: true)
        #expect(rack.lostRecordCount == 1 && consistent())
        rack.onSent(seq: una + 1000, end: una + 2000, now: at(21), retransmission: true)
        rack.onAck(una: una, scoreboard: scoreboard((1000, 3000)), now: at(31))
        #expect(rack.lostRecordCount == 0 && consistent())
        _ = rack.detectLoss(now: at(40), reorderingWindow: 0)
        #expect(rack.lostRecordCount == 1 && consistent())
        rack.onAck(una: una + 3000, scoreboard: SACKScoreboard(), now: at(41))
        #expect(rack.lostRecordCount == 0 && rack.records.isEmpty && rack.lostBytes == 0 && rack.firstLost == nil)
        var other = threeSent()
        other.onAck(una: una, scoreboard: scoreboard((2000, 3000)), now: at(12))
        _ = other.detectLoss(now: at(14), reorderingWindow: 0)
        other.clearLostMarks()
        #expect(other.lostRecordCount == 0 && other.firstLost == nil)
    }

    @Test("RFC 8985 §6.2 step 2: a retransmission SACKed sooner than min_RTT after it was sent was the original's delivery and does not advance RACK.xmit_ts")
    func spuriousRetransmissionIgnored() {
        var rack = threeSent()
        rack.onAck(una: una, scoreboard: scoreboard((2000, 3000)), now: at(12))
        rack.onSent(seq: una + 1000, end: una + 2000, now: at(20), retransmission: true)
        rack.onAck(una: una, scoreboard: scoreboard((1000, 3000)), now: at(21))
        #expect(rack.deliveredSentAt == at(2))
    }

    @Test("RFC 8985 §6.2 step 3: an original delivered below RACK.fack is reordering, and the window stays min_RTT / 4 in recovery")
    func reorderingSeen() {
        var rack = threeSent()
        rack.onAck(una: una, scoreboard: scoreboard((2000, 3000)), now: at(12))
        #expect(rack.reorderingWindow(inRecovery: true, smoothedRTT: 10 * ms) == 0)
        rack.onAck(una: una, scoreboard: scoreboard((1000, 3000)), now: at(13))
        #expect(rack.reorderingSeen)
        #expect(rack.reorderingWindow(inRecovery: true, smoothedRTT: 10 * ms) == 10 * ms / 4)
    }

    func sackSender() -> TCPSender {
        var s = TCPSender(algorithm: .newReno, mss: 1000, iss: una - 1)
        s.enableSACK()
        // Ten segments, 0.1 ms apart.
        for k in 0..<10 { s.didSend(seq: una + k * 1000, length: 1000, now: at(Double(k) * 0.1)) }
        return s
    }

    func sack(_ pairs: (Int, Int)...) -> TCPSACKBlocks {
        TCPSACKBlocks(pairs.map { TCPSACKBlock(left: (una + $0.0).rawValue, right: (una + $0.1).rawValue) })
    }

    @Test("Issue 14: a connection holds no per-transmission storage while nothing is outstanding — none before it sends, and none once a flight with SACKs, a recovery and a retransmission is acknowledged; RACK's min_RTT outlives the records")
    func drainedFlightReleasesStorage() {
        #expect(TCPSender(algorithm: .cubic, mss: 1000, iss: una - 1).heldStorageBytes == 0, "a new connection reserves nothing")
        #expect(TCPSender(algorithm: .bbr, mss: 1000, iss: una - 1).heldStorageBytes == 0)
        var s = sackSender()
        let max = una + 10_000
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 4000)), isDuplicate: true, now: at(10), rtt: 10 * ms)
        #expect(s.inRecovery)
        s.didRetransmit(seq: una, length: 1000, sndMax: max, now: at(10.5))
        #expect(s.heldStorageBytes > 0, "records, SACK ranges, the retransmission and the episode while data is in flight")
        s.onAck(ack: una + 5000, oldUna: una, sndMax: max, blocks: [], isDuplicate: false, now: at(20), rtt: 10 * ms)
        #expect(s.heldStorageBytes > 0, "half the flight still outstanding")
        s.onAck(ack: max, oldUna: una + 5000, sndMax: max, blocks: [], isDuplicate: false, now: at(21), rtt: 10 * ms)
        #expect(!s.inRecovery)
        #expect(s.rack.records.capacity == 0 && s.scoreboard.ranges.capacity == 0)
        #expect(s.heldStorageBytes == s.undo.episodes.capacity * MemoryLayout<SpuriousRecoveryUndo.Episode>.stride,
                "only the undo episodes, which a late D-SACK may still prove spurious, are kept")
        #expect(s.rack.minRTT != nil, "what persists across flights is kept")
        // The next flight reserves again and releases again.
        s.didSend(seq: max, length: 1000, now: at(30))
        #expect(s.rack.records.count == 1)
        s.onAck(ack: max + 1000, oldUna: max, sndMax: max + 1000, blocks: [], isDuplicate: false, now: at(40), rtt: 10 * ms)
        #expect(s.rack.records.capacity == 0)
    }

    @Test("RFC 8985 §6.3 with RFC 6675 §5: one SACKed segment (below DupThresh) and the reordering timer find the loss and start recovery")
    func reorderingTimerStartsRecovery() {
        var s = sackSender()
        let max = una + 10_000
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 2000)), isDuplicate: true, now: at(10.1), rtt: 10 * ms)
        #expect(!s.inRecovery)
        #expect(s.reorderingDeadline == at(12.5))
        let early = s.reorderingTimerExpired(now: at(12), smoothedRTT: 10 * ms, una: una, sndMax: max)
        #expect(!early)
        let due = s.reorderingTimerExpired(now: at(12.5), smoothedRTT: 10 * ms, una: una, sndMax: max)
        #expect(due)
        #expect(s.inRecovery && s.retransmitHeadDue)
        #expect(s.nextRetransmission(una: una, sndMax: max)?.seq == una)
    }

    @Test("RFC 6298 §5 / RFC 5681 §3.1 / RFC 6675 §5.1 with RFC 8985 §6.2: after a timeout cwnd is one segment, and a resent segment lost again is resent by RACK, not by the next RTO; SACKed data is not")
    func lostAgainAfterTimeout() {
        var s = sackSender()
        let max = una + 10_000
        // Segments 1–2 were SACKed before the timeout.
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 3000)), isDuplicate: true, now: at(10.2), rtt: 10 * ms)
        s.onRetransmissionTimeout(una: una, sndMax: max, consecutive: 1, now: at(300))
        #expect(s.cwnd == 1000, "RFC 5681 §3.1: the loss window")
        #expect(!s.inRecovery)
        #expect(s.skipSacked(from: una + 1000).seq == una + 3000, "RFC 6675 §5.1: SACKed data is skipped")
        // Go-back-N resends segment 0 at 300 ms, then segment 3 at 311 ms; only segment 3 arrives.
        s.didRetransmit(seq: una, length: 1000, sndMax: max, now: at(300))
        s.didRetransmit(seq: una + 3000, length: 1000, sndMax: max, now: at(311))
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 4000)), isDuplicate: true, now: at(321), rtt: 10 * ms)
        #expect(s.rack.firstLost?.seq == una)
        #expect(s.nextRetransmission(una: una, sndMax: max)?.seq == una)
        #expect(s.congestionRoom(una: una, sndNxt: una + 4000, sndMax: max) > 0, "the lost segment left the pipe")
    }

    @Test("RFC 6298 §5.5 / RFC 9293 §3.8.3 R2: in recovery the probe that resends a lost head fires once per advance of SND.UNA; after that only the (backed-off) RTO resends it")
    func recoveryProbeOncePerAdvance() {
        var s = sackSender()
        let max = una + 10_000
        s.onAck(ack: una, oldUna: una, sndMax: max, blocks: sack((1000, 4000)), isDuplicate: true, now: at(10), rtt: 10 * ms)
        #expect(s.inRecovery)
        s.armRecoveryProbe(now: at(10), smoothedRTT: 10 * ms, retransmitDeadline: at(1000))
        #expect(s.probeDeadline == at(32))
        let fired = s.probeTimerExpired(now: at(32))
        #expect(fired)
        s.armRecoveryProbe(now: at(32), smoothedRTT: 10 * ms, retransmitDeadline: at(1000))
        #expect(s.probeDeadline == nil, "not re-armed by its own resend")
        s.onAck(ack: una + 1000, oldUna: una, sndMax: max, blocks: sack((1000, 4000)), isDuplicate: false, now: at(40), rtt: 10 * ms)
        s.armRecoveryProbe(now: at(40), smoothedRTT: 10 * ms, retransmitDeadline: at(1000))
        #expect(s.probeDeadline == at(62))
    }

    @Test("RFC 8985 §6.2 step 4: with no reordering seen, reo_wnd is 0 once DupThresh segments are SACKed or after a timeout, so the loss is marked on the ACK, not by the reordering timer")
    func reorderingWindowZeroOnceLossIsProven() {
        var rack = threeSent()
        rack.onAck(una: una, scoreboard: scoreboard((2000, 3000)), now: at(12))
        #expect(rack.reorderingWindow(inRecovery: false, dupThreshReached: false, smoothedRTT: 10 * ms) == 10 * ms / 4)
        #expect(rack.reorderingWindow(inRecovery: false, dupThreshReached: true, smoothedRTT: 10 * ms) == 0)
        // Through the sender: four segments SACKed above a hole at SND.UNA, sent 0.1 ms apart, delivered
        // after 0.5 ms: RACK.rtt + 0 has passed for the hole, and it is lost at once.
        var s = sackSender()
        s.onAck(ack: una, oldUna: una, sndMax: una + 10_000, blocks: sack((1000, 5000)), isDuplicate: true, now: at(0.9), rtt: 1 * ms)
        #expect(s.rack.firstLost?.seq == una)
        #expect(s.reorderingDeadline == nil)
        // After a timeout the go-back-N counts as recovery (§6.2 step 4 "in loss recovery").
        var t = sackSender()
        t.onRetransmissionTimeout(una: una, sndMax: una + 10_000, consecutive: 1, now: at(300))
        #expect(t.recoveringFromTimeout)
        t.didRetransmit(seq: una, length: 1000, sndMax: una + 10_000, now: at(300))
        t.didRetransmit(seq: una + 1000, length: 1000, sndMax: una + 10_000, now: at(300.1))
        t.onAck(ack: una, oldUna: una, sndMax: una + 10_000, blocks: sack((1000, 2000)), isDuplicate: true, now: at(300.6), rtt: 1 * ms)
        #expect(t.rack.firstLost?.seq == una, "the resent head is lost again: a segment sent after it was delivered")
        t.onAck(ack: una + 10_000, oldUna: una, sndMax: una + 10_000, blocks: [], isDuplicate: false, now: at(301), rtt: 1 * ms)
        #expect(!t.recoveringFromTimeout)
    }

    @Test("RFC 8985 §7.2: the PTO is 2·SRTT plus 2 ms (Linux TCP_TIMEOUT_MIN), not a 10 ms floor; one segment in flight adds WCDelAckT")
    func probeTimeoutFollowsSubMillisecondRTT() {
        var s = sackSender()
        let srtt: Int64 = 200_000  // 0.2 ms
        s.armTailLossProbe(now: at(1), smoothedRTT: srtt, flight: 10_000, retransmitDeadline: at(201))
        #expect(s.probeDeadline == at(1) + 2 * srtt + 2 * ms)
        s.armTailLossProbe(now: at(1), smoothedRTT: srtt, flight: 1000, retransmitDeadline: at(1001))
        #expect(s.probeDeadline == at(1) + 2 * srtt + 200 * ms)
        // The recovery probe (the same timer guarding a resent head) uses the same PTO.
        s.onAck(ack: una, oldUna: una, sndMax: una + 10_000, blocks: sack((1000, 5000)), isDuplicate: true, now: at(2), rtt: srtt)
        #expect(s.inRecovery)
        s.armRecoveryProbe(now: at(2), smoothedRTT: srtt, retransmitDeadline: at(202))
        #expect(s.probeDeadline == at(2) + 2 * srtt + 2 * ms)
    }

    @Test("RFC 6298 §3 (Karn): RTT samples come from send times at the clock's precision, from the oldest segment an ACK covers, and none when it covers a retransmission")
    func roundTripSampleFromSendTimes() {
        var s = sackSender()
        // Segments sent at 0.0, 0.1, ... ms; an ACK of the first three at 0.45 ms: 450 µs since the oldest.
        #expect(s.roundTripSample(ack: una + 3000, now: at(0.45)) == 450_000)
        #expect(s.roundTripSample(ack: una + 500, now: at(0.45)) == nil, "no segment covered entirely")
        s.didRetransmit(seq: una + 3000, length: 1000, sndMax: una + 10_000, now: at(5))
        s.onAck(ack: una + 3000, oldUna: una, sndMax: una + 10_000, blocks: [], isDuplicate: false, now: at(5), rtt: nil)
        #expect(s.roundTripSample(ack: una + 5000, now: at(6)) == nil, "Karn: the ACK covers a retransmitted segment")
        var plain = TCPSender(algorithm: .newReno, mss: 1000, iss: una - 1)
        plain.didSend(seq: una, length: 1000, now: at(0))
        #expect(plain.roundTripSample(ack: una + 1000, now: at(1)) == nil, "without SACK no send times are kept")
    }
}
