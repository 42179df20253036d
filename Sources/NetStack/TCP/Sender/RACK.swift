import Wire

/// RACK, time-based loss detection (RFC 8985 §6): a segment is lost when a segment sent at least
/// RACK.rtt + RACK.reo_wnd after it has been delivered (cumulatively ACKed or SACKed).
///
/// It keeps one record per transmitted range above SND.UNA with its latest transmission time, so a
/// retransmission that is lost again is found the same way as an original: by a later-sent segment's
/// delivery, not by the RTO (RFC 8985 §6.2 step 5 looks at every outstanding segment, retransmitted or
/// not). Records are sorted by sequence number; their number is bounded by the send buffer over the
/// MSS. The storage is reserved at the first transmission of a flight and released when the flight
/// drains (`releaseStorage`): an idle connection holds none, whatever it sent before.
struct RACK {
    struct Record: Equatable {
        var seq: SequenceNumber
        var end: SequenceNumber
        /// RACK's per-segment `Segment.xmit_ts` (RFC 8985 §6.1): the latest transmission.
        var sentAt: NetInstant
        /// The transmission before the latest (the original, or an earlier resend); `sentAt` if none.
        var previousSentAt: NetInstant
        var retransmitted: Bool
        /// SACKed (RFC 8985 §6.1 `Segment.lost` is the complement of delivered-or-outstanding).
        var delivered: Bool
        /// Marked lost and not retransmitted since.
        var lost: Bool
        /// The delivery state at the latest transmission (delivery-rate estimation, see
        /// `DeliveryRateEstimator`).
        var snapshot = DeliverySnapshot.zero
    }

    private(set) var records: [Record] = []
    /// RFC 8985 §6.1 RACK.xmit_ts / RACK.end_seq: the most recently sent segment delivered so far.
    private(set) var deliveredSentAt: NetInstant? = nil
    private(set) var deliveredEnd: SequenceNumber? = nil
    /// RFC 8985 §6.1 RACK.rtt: the RTT of that segment's delivery.
    private(set) var rtt: Int64 = 0
    /// RFC 8985 §6.1 RACK.min_RTT.
    private(set) var minRTT: Int64? = nil
    /// RFC 8985 §6.2 step 3: RACK.reordering_seen.
    private(set) var reorderingSeen = false
    /// RFC 8985 §6.1 RACK.fack: the highest end of a delivered segment.
    private var forwardAcked: SequenceNumber? = nil
    /// Segments marked lost (for tests and statistics).
    private(set) var segmentsMarkedLost = 0
    /// Records marked lost now: with none (the common case), `lostBytes` and `firstLost` need not walk
    /// every record, which they were asked to per segment sent.
    private(set) var lostRecordCount = 0
    /// RFC 8985 §6.2 step 4: RACK.reo_wnd_mult, raised once per round trip that sees a D-SACK.
    private(set) var reorderingWindowMultiplier: Int64 = 1
    /// RFC 8985 §6.2 step 4: RACK.dsack_round, SND.NXT when the multiplier was last raised.
    private var duplicateSackRound: SequenceNumber? = nil
    /// RFC 8985 §6.2 step 4: RACK.reo_wnd_persist, recoveries left before the multiplier resets.
    private var multiplierPersistence = 0
    /// RFC 8985 §6.2 step 4: 16 recoveries without a D-SACK reset the multiplier.
    static let multiplierPersistenceRecoveries = 16
    /// Linux's bound on `reo_wnd_steps` (an 8-bit field); the window is capped at SRTT anyway.
    static let maximumMultiplier: Int64 = 255

    /// Records reserved at the first transmission of a flight; a larger flight grows the storage.
    static let initialCapacity = 16

    /// Storage is reserved at the first transmission, not at creation: an idle connection holds none.
    init() {}

    /// Nothing is outstanding: gives the records' storage back (a record is 64 bytes, and a flight of a
    /// full window leaves room for hundreds). The next transmission reserves it again.
    mutating func releaseStorage() {
        guard records.isEmpty, records.capacity > 0 else { return }
        records = []
    }

    /// Bytes marked lost and not yet resent: they have left the network (RFC 6675 §4 SetPipe counts no
    /// lost segment).
    var lostBytes: Int {
        guard lostRecordCount > 0 else { return 0 }
        return records.reduce(0) { $0 + ($1.lost ? $1.end - $1.seq : 0) }
    }

    /// The first range marked lost at or above `una`, not resent since.
    var firstLost: Record? {
        guard lostRecordCount > 0 else { return nil }
        return records.first { $0.lost }
    }

    /// `[seq, end)` was sent at `now`: new data appends a record; a retransmission refreshes the
    /// records it covers (their `xmit_ts`, RFC 8985 §6.1) and clears their lost mark.
    /// `snapshot` is the delivery state at this transmission.
    mutating func onSent(
        seq: SequenceNumber, end: SequenceNumber, now: NetInstant, retransmission: Bool,
        snapshot: DeliverySnapshot = .zero
    ) {
        guard seq < end else { return }
        if records.capacity == 0 { records.reserveCapacity(Self.initialCapacity) }
        if records.last.map({ !(seq < $0.end) }) ?? true {
            records.append(
                Record(
                    seq: seq, end: end, sentAt: now, previousSentAt: now, retransmitted: retransmission, delivered: false,
                    lost: false, snapshot: snapshot))
            return
        }
        for i in records.indices where records[i].seq < end && seq < records[i].end {
            records[i].previousSentAt = records[i].sentAt
            records[i].sentAt = now
            records[i].snapshot = snapshot
            records[i].retransmitted = true
            if records[i].lost { lostRecordCount -= 1 }
            records[i].lost = false
        }
    }

    /// `onAck(una:scoreboard:now:echoedSendTime:rates:)` without delivery-rate accounting.
    mutating func onAck(una: SequenceNumber, scoreboard: SACKScoreboard, now: NetInstant, echoedSendTime: NetInstant? = nil) {
        var rates = DeliveryRateEstimator()
        onAck(una: una, scoreboard: scoreboard, now: now, echoedSendTime: echoedSendTime, rates: &rates)
    }

    /// An ACK moved SND.UNA to `una` with the SACK `scoreboard`: RFC 8985 §6.2 steps 1–3 for every
    /// newly delivered segment. `echoedSendTime` is when the segment whose timestamp the ACK echoes was
    /// sent (RFC 7323 TSecr, to the millisecond), if known. Each newly delivered segment is also counted
    /// in `rates` (draft-cheng-iccrg-delivery-rate-estimation §3.3).
    mutating func onAck(
        una: SequenceNumber, scoreboard: SACKScoreboard, now: NetInstant, echoedSendTime: NetInstant? = nil,
        rates: inout DeliveryRateEstimator
    ) {
        var dropped = 0
        for i in records.indices {
            let r = records[i]
            let cumulative = r.end <= una
            // Records are in sequence order: past the cumulatively acknowledged ones, only SACKed data
            // can be delivered, and without SACK blocks there is none.
            if !cumulative && scoreboard.isEmpty { break }
            if !cumulative && (r.delivered || !scoreboard.covers(left: r.seq, right: r.end)) { continue }
            if r.lost { lostRecordCount -= 1 }
            if !cumulative { records[i].delivered = true; records[i].lost = false }
            if cumulative { dropped = i + 1 }
            if r.delivered { continue }
            rates.segmentDelivered(bytes: r.end - r.seq, snapshot: r.snapshot, sentAt: r.sentAt, retransmitted: r.retransmitted, now: now)
            deliver(Self.deliveredTransmission(of: r, echoedSendTime: echoedSendTime), now: now)
        }
        if dropped > 0 { records.removeFirst(dropped) }
    }

    /// RFC 8985 §6.2 step 2 / RFC 3522 (Eifel): an ACK echoing a timestamp from before a segment's
    /// latest resend was caused by an earlier transmission, so that one was delivered. Taking the resend
    /// instead made a delay spike look like a fresh round trip of the resend's age, and every segment sent
    /// before it looked lost.
    static func deliveredTransmission(of r: Record, echoedSendTime: NetInstant?) -> Record {
        guard r.retransmitted, let echoed = echoedSendTime,
            echoed + timestampGranularity <= r.sentAt, r.previousSentAt < r.sentAt
        else { return r }
        var original = r
        original.sentAt = r.previousSentAt
        return original
    }

    /// RFC 7323 timestamps here tick in milliseconds.
    static let timestampGranularity: Int64 = 1_000_000

    private mutating func deliver(_ r: Record, now: NetInstant) {
        let sample = now - r.sentAt
        // Step 1: a retransmitted segment delivered faster than the minimum RTT was the original's
        // delivery (RFC 8985 §6.2 step 2 without timestamps); it tells nothing about the retransmission.
        if r.retransmitted, let min = minRTT, sample < min { return }
        if minRTT == nil || sample < minRTT! { minRTT = sample }
        // Step 3: an original delivered below an already delivered end was reordered.
        if !r.retransmitted, let fack = forwardAcked, r.end < fack { reorderingSeen = true }
        if forwardAcked == nil || forwardAcked! < r.end { forwardAcked = r.end }
        // Step 2: keep the most recently sent delivered segment (ties by sequence, RFC 8985 §6.2).
        if let sentAt = deliveredSentAt, let end = deliveredEnd,
            r.sentAt < sentAt || (r.sentAt == sentAt && r.end <= end)
        {
            return
        }
        deliveredSentAt = r.sentAt
        deliveredEnd = r.end
        rtt = sample
    }

    /// RFC 8985 §6.2 step 4: RACK.reo_wnd = reo_wnd_mult · min_RTT / 4 (capped at SRTT) once reordering
    /// was seen; before that, 0 in loss recovery (fast recovery or after a timeout) or once DupThresh
    /// segments are SACKed (`dupThreshReached`: the loss is as good as proven, Linux
    /// `tcp_rack_reo_wnd`), else the same. Waiting out the window there only delays the retransmission.
    func reorderingWindow(inRecovery: Bool, dupThreshReached: Bool = false, smoothedRTT: Int64?) -> Int64 {
        guard let min = minRTT else { return 0 }
        if !reorderingSeen && (inRecovery || dupThreshReached) { return 0 }
        let window = reorderingWindowMultiplier * (min / 4)
        if let srtt = smoothedRTT { return Swift.min(window, srtt) }
        return window
    }

    /// RFC 8985 §6.2 step 4 (RACK_update_reo_wnd) for an ACK: the D-SACK round ends once SND.UNA passes
    /// it; a D-SACK outside a round raises the multiplier and starts one.
    mutating func updateReorderingWindow(duplicateSack: Bool, una: SequenceNumber, sndNxt: SequenceNumber) {
        if let round = duplicateSackRound, una >= round { duplicateSackRound = nil }
        guard duplicateSack, duplicateSackRound == nil else { return }
        duplicateSackRound = sndNxt
        reorderingWindowMultiplier = Swift.min(Self.maximumMultiplier, reorderingWindowMultiplier + 1)
        multiplierPersistence = Self.multiplierPersistenceRecoveries
    }

    /// RFC 8985 §6.2 step 4: fast or RTO recovery ended; after 16 without a D-SACK the multiplier resets.
    mutating func recoveryEnded() {
        multiplierPersistence -= 1
        if multiplierPersistence <= 0 { reorderingWindowMultiplier = 1 }
    }

    /// A D-SACK showed a retransmission was unnecessary: its original was delivered after data sent
    /// later, which is reordering (RFC 8985 §6.2 step 3 sees it only for segments never resent; here the
    /// resend came first). Linux counts it as reordering the same way (`tcp_sacktag_one`).
    mutating func noteReordering() { reorderingSeen = true }

    /// RFC 8985 §6.2 step 5: marks lost every outstanding, undelivered segment sent before RACK.xmit_ts
    /// whose time is up (`sentAt + RACK.rtt + reo_wnd ≤ now`). Returns the bytes newly marked and, for
    /// those not yet due, the time the reordering timer (RFC 8985 §6.3) must fire, or nil.
    mutating func detectLoss(now: NetInstant, reorderingWindow: Int64) -> (newlyLost: Int, timer: NetInstant?) {
        guard let latest = deliveredSentAt, let latestEnd = deliveredEnd else { return (0, nil) }
        var newlyLost = 0
        var timer: NetInstant? = nil
        for i in records.indices {
            let r = records[i]
            if r.delivered || r.lost { continue }
            guard r.sentAt < latest || (r.sentAt == latest && r.end < latestEnd) else { continue }
            let deadline = r.sentAt + rtt + reorderingWindow
            if deadline <= now {
                records[i].lost = true
                lostRecordCount += 1
                newlyLost += r.end - r.seq
                segmentsMarkedLost += 1
            } else if timer == nil || deadline < timer! {
                timer = deadline
            }
        }
        return (newlyLost, timer)
    }

    /// RFC 6298 §3 (Karn) with send times instead of timestamps: the time since the oldest segment that
    /// `ack` newly covers was sent, if none of the covered segments was ever retransmitted. Linux's
    /// `tcp_clean_rtx_queue` takes its RTO sample the same way (µs send stamps, the first segment ACKed,
    /// none if retransmitted data was ACKed) and prefers it to the RFC 7323 timestamps, whose
    /// millisecond ticks cannot time a sub-millisecond path. Nil when not known.
    func roundTripSample(ack: SequenceNumber, now: NetInstant) -> Int64? {
        var oldest: Record? = nil
        for r in records {
            guard r.end <= ack else { break }
            if r.retransmitted { return nil }
            if oldest == nil { oldest = r }
        }
        guard let r = oldest else { return nil }
        return Swift.max(0, now - r.sentAt)
    }

    /// A timeout resends everything outstanding anyway.
    mutating func clearLostMarks() {
        for i in records.indices { records[i].lost = false }
        lostRecordCount = 0
    }

    /// RFC 6675 §5.1 after a second timeout (RFC 2018 §8 reneging): SACK state is gone, so is delivery.
    mutating func forgetDeliveries() {
        for i in records.indices {
            records[i].delivered = false
        }
    }
}
