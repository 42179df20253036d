import Testing
import Wire
@testable import NetStack

/// Undo of spurious recoveries per episode (RFC 2883 §5, RFC 3708 §3) and RACK's reordering window
/// multiplier (RFC 8985 §6.2 step 4), alone.
@Suite("TCP sender: undo of spurious recoveries, reordering window")
struct SpuriousRecoveryUndoTests {
    let mss = 1000

    /// NewReno at `cwnd` bytes with ssthresh still unbounded, then reduced by a congestion event.
    func reduced(from cwnd: Int, flight: Int) -> (before: CongestionController, after: CongestionController) {
        var c = CongestionController(.newReno, mss: mss)
        c.onAck(acked: cwnd - c.cwnd, now: .zero, rtt: nil)
        let before = c
        c.onCongestionEvent(flight: flight, now: .zero)
        return (before, c)
    }

    @Test("RFC 3708 §3: two overlapping spurious episodes, proven oldest first, give back the window and the slow start of before the first")
    func overlappingEpisodesRestoreTheFirstState() {
        var undo = SpuriousRecoveryUndo()
        let first = reduced(from: 40_000, flight: 40_000)  // cwnd 40 000 → 20 000, ended slow start
        undo.begin(una: SequenceNumber(0), sndMax: SequenceNumber(40_000), before: first.before, fromTimeout: false)
        undo.reduced(to: first.after.ssthresh)
        undo.retransmitted(seq: SequenceNumber(0), length: 1000)
        var state = first.after
        let before2 = state
        state.onCongestionEvent(flight: 20_000, now: .zero)  // 20 000 → 10 000
        undo.begin(una: SequenceNumber(40_000), sndMax: SequenceNumber(60_000), before: before2, fromTimeout: false)
        undo.reduced(to: state.ssthresh)
        undo.retransmitted(seq: SequenceNumber(40_000), length: 1000)
        let nothingYet = undo.takeSpurious()
        #expect(nothingYet == nil)
        // The first episode's D-SACK arrives while the second is still open: its own halving is undone.
        let counted1 = undo.duplicateSacked(left: SequenceNumber(0), right: SequenceNumber(1000))
        #expect(counted1)
        let older = undo.takeSpurious()
        #expect(older?.isLatest == false)
        state.undoReduction(factor: older!.episode.reduction, upTo: older!.episode.before)
        #expect(state.cwnd == 20_000 && state.ssthresh == 20_000)
        // Then the second's: it restores its saved state, which no longer carries the first halving.
        let counted2 = undo.duplicateSacked(left: SequenceNumber(40_000), right: SequenceNumber(41_000))
        #expect(counted2)
        let latest = undo.takeSpurious()
        #expect(latest?.isLatest == true)
        #expect(latest!.episode.before.cwnd == 40_000 && latest!.episode.before.ssthresh == Int.max)
        #expect(undo.undone == 2)
    }

    @Test("RFC 2883 §5: D-SACKs below an episode's SND.UNA at entry, or of an episode without retransmissions, undo nothing")
    func duplicatesOutsideEpisodesCountForNothing() {
        var undo = SpuriousRecoveryUndo()
        let r = reduced(from: 20_000, flight: 20_000)
        undo.begin(una: SequenceNumber(10_000), sndMax: SequenceNumber(30_000), before: r.before, fromTimeout: false)
        undo.reduced(to: r.after.ssthresh)
        let counted3 = undo.duplicateSacked(left: SequenceNumber(10_000), right: SequenceNumber(11_000))
        #expect(!counted3, "nothing resent yet")
        undo.retransmitted(seq: SequenceNumber(10_000), length: 1000)
        let counted4 = undo.duplicateSacked(left: SequenceNumber(9000), right: SequenceNumber(10_000))
        #expect(!counted4)
        let nothing = undo.takeSpurious()
        #expect(nothing == nil)
    }

    @Test("Undoing an older reduction never raises the window past what it was before that reduction")
    func undoIsBoundedByTheWindowBefore() {
        var c = CongestionController(.newReno, mss: mss)
        c.onAck(acked: 10_000, now: .zero, rtt: nil)  // 20 000
        let before = c
        c.onCongestionEvent(flight: 20_000, now: .zero)  // 10 000
        c.onAck(acked: 10_000, now: .zero, rtt: nil)  // congestion avoidance: 11 000
        c.undoReduction(factor: 2, upTo: before)
        #expect(c.cwnd == 20_000, "min(11 000 · 2, 20 000)")
    }

    @Test("RFC 8985 §6.2 step 4: reo_wnd_mult grows once per D-SACK round, scales min_RTT / 4 up to SRTT, and resets after 16 recoveries without D-SACK")
    func reorderingWindowMultiplier() {
        var rack = RACK()
        let ms: Int64 = 1_000_000
        rack.onSent(seq: SequenceNumber(0), end: SequenceNumber(1000), now: .zero, retransmission: false)
        rack.onAck(una: SequenceNumber(1000), scoreboard: SACKScoreboard(), now: NetInstant(nanoseconds: 4 * ms))
        rack.noteReordering()
        #expect(rack.reorderingWindow(inRecovery: true, smoothedRTT: 100 * ms) == ms)
        rack.updateReorderingWindow(duplicateSack: true, una: SequenceNumber(1000), sndNxt: SequenceNumber(5000))
        rack.updateReorderingWindow(duplicateSack: true, una: SequenceNumber(2000), sndNxt: SequenceNumber(6000))
        #expect(rack.reorderingWindowMultiplier == 2, "one raise per round (until SND.UNA passes 5000)")
        rack.updateReorderingWindow(duplicateSack: true, una: SequenceNumber(5000), sndNxt: SequenceNumber(9000))
        #expect(rack.reorderingWindowMultiplier == 3)
        #expect(rack.reorderingWindow(inRecovery: false, smoothedRTT: 100 * ms) == 3 * ms)
        #expect(rack.reorderingWindow(inRecovery: false, smoothedRTT: 2 * ms) == 2 * ms, "capped at SRTT")
        for _ in 0..<15 { rack.recoveryEnded() }
        #expect(rack.reorderingWindowMultiplier == 3)
        rack.recoveryEnded()
        #expect(rack.reorderingWindowMultiplier == 1)
    }
}
