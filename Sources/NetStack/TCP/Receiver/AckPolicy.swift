import Wire

/// When the receiver acknowledges data (RFC 9293 §3.8.6.3, RFC 5681 §4.2, RFC 1122 §4.2.3.2), as
/// Linux's `__tcp_ack_snd_check` decides it:
/// - data that fills the last hole, and data that moves RCV.NXT while holes remain, at once
///   (RFC 5681 §4.2);
/// - out-of-order data at once for the first three arrivals at one RCV.NXT, then compressed
///   (`SACKCompression`, with SACK only);
/// - the first segments of a connection at once ("quick-ACK", as Linux's `tcp_enter_quickack_mode`),
///   so that the sender's slow start is not held back by delayed ACKs — and again, for up to half a
///   window of segments, after a segment that was entirely received before (our ACK was lost or the
///   sender timed out) and after a silence longer than the RTO (the sender restarts from a small
///   window), as Linux's `tcp_data_queue`, `tcp_send_dupack` and `tcp_event_data_recv` re-enter it;
/// - otherwise at least every second full-sized segment, or after the delayed-ACK timeout — and
///   with an RTT estimate, "stretch" ACKs: every `stretchSegments` full-sized segments, or a quarter
///   of the RTT (at most `maximumStretchDelay`) after the second, whichever comes first. A sender that
///   counts bytes acknowledged (RFC 3465; Linux, and `CongestionControl` here) grows its window as
///   before, and it decrypts, routes and parses half as many ACKs — what an ACK costs a sender
///   behind a userspace tunnel is a whole packet's work. Linux's receiver gets the same effect from
///   GRO, one ACK per coalesced batch.
///
/// "Full-sized" is the largest segment received so far (Linux's `rcv_mss` estimate), since the peer's
/// segments can be smaller than our MSS. Sending any segment with ACK (`ackSent()`) satisfies it.
struct AckPolicy: Hashable {
    /// The delayed-ACK timeout, nanoseconds.
    let delay: Int64
    /// The most in-order segments a (re-)entered quick-ACK mode acknowledges at once (Linux
    /// `TCP_MAX_QUICKACKS`).
    let quickAcks: Int
    /// Whether a duplicate segment or a long silence re-enters quick-ACK mode.
    let quickAckReentry: Bool
    /// In-order full-sized segments per stretch ACK; 2 or less: an ACK for every second one.
    let stretchSegments: Int
    /// The longest a stretch ACK waits after the second full-sized segment, nanoseconds: short
    /// against the 4 ms an RTT must grow by before HyStart++ ends slow start (RFC 9406 §4.2
    /// MIN_RTT_THRESH) or Linux's HyStart reacts, so the sender's RTT samples stay meaningful.
    static let maximumStretchDelay: Int64 = 1_000_000
    /// The stretch ACK waits at most this fraction of the RTT.
    static let stretchDelayDivisor: Int64 = 4
    /// In-order segments still acknowledged at once.
    private(set) var quickAcksRemaining: Int
    /// Payload bytes received in order since the last ACK.
    private(set) var unacknowledgedBytes = 0
    /// The largest segment received so far.
    private(set) var segmentSizeEstimate: Int
    /// When the delayed ACK must go out.
    private(set) var delayedAckDeadline: NetInstant? = nil
    /// When a held stretch ACK must go out.
    private(set) var stretchDeadline: NetInstant? = nil
    /// When data last arrived (for the silence rule).
    private(set) var lastDataArrival: NetInstant? = nil
    /// Out-of-order ACKs held back; nil: every out-of-order segment is acknowledged at once.
    private(set) var compression: SACKCompression?

    init(
        delay: Int64, quickAcks: Int, initialSegmentSize: Int, quickAckReentry: Bool = true, compression: Bool = true,
        stretchSegments: Int = 2
    ) {
        self.delay = delay
        self.quickAcks = Swift.max(0, quickAcks)
        self.quickAckReentry = quickAckReentry
        self.stretchSegments = stretchSegments
        quickAcksRemaining = self.quickAcks
        segmentSizeEstimate = Swift.max(1, initialSegmentSize)
        self.compression = compression ? SACKCompression() : nil
    }

    /// When an ACK that is not due yet must go out: the delayed ACK, the stretch ACK or the held SACK
    /// ACK.
    var deadline: NetInstant? {
        earliest(earliest(delayedAckDeadline, stretchDeadline), compression?.deadline)
    }

    /// Data arrived at `now`; `idleThreshold` is the connection's RTO and `window` the receive window
    /// limit. After a longer silence the sender restarts from a small window (a timeout, or an idle
    /// restart, RFC 5681 §4.1): quick-ACK mode again (Linux `tcp_event_data_recv`: "too long gap").
    mutating func dataArrived(now: NetInstant, idleThreshold: Int64, window: Int) {
        if let last = lastDataArrival, now - last > idleThreshold { enterQuickAckMode(window: window) }
        lastDataArrival = now
    }

    /// A segment we had entirely received arrived again: the sender missed our ACK or timed out. The
    /// next segments are acknowledged at once (Linux `tcp_enter_quickack_mode` for such data): as many
    /// as half the window holds, at least 2, at most `quickAcks` (Linux `tcp_incr_quickack`).
    mutating func enterQuickAckMode(window: Int) {
        guard quickAckReentry else { return }
        let halfWindow = Swift.max(2, window / (2 * segmentSizeEstimate))
        quickAcksRemaining = Swift.max(quickAcksRemaining, Swift.min(quickAcks, halfWindow))
    }

    /// `length` bytes arrived in order and nothing was held out of order before; `rtt` is the
    /// receiver's RTT estimate, if any. Returns true when an ACK is due now; otherwise the delayed-ACK
    /// (or stretch-ACK) deadline is armed.
    mutating func inOrderData(length: Int, now: NetInstant, rtt: Int64? = nil) -> Bool {
        segmentSizeEstimate = Swift.max(segmentSizeEstimate, length)
        unacknowledgedBytes += length
        if quickAcksRemaining > 0 {
            quickAcksRemaining -= 1
            return true
        }
        // RFC 5681 §4.2: "an ACK SHOULD be generated for at least every second full-sized segment".
        if unacknowledgedBytes >= 2 * segmentSizeEstimate {
            guard stretchSegments > 2, let rtt, rtt > 0 else { return true }
            if unacknowledgedBytes >= stretchSegments * segmentSizeEstimate { return true }
            if stretchDeadline == nil {
                stretchDeadline = now + Swift.min(Self.maximumStretchDelay, rtt / Self.stretchDelayDivisor)
            }
            return false
        }
        if delayedAckDeadline == nil { delayedAckDeadline = now + delay }
        return false
    }

    /// What an arrival did to the out-of-order queue, for `outOfOrderData`.
    struct OutOfOrderArrival {
        /// Bytes the arrival moved RCV.NXT by (it filled a hole, or part of one).
        var advanced: Int
        /// Data is still held out of order after it.
        var holesRemain: Bool
        /// RCV.NXT after it.
        var rcvNxt: SequenceNumber
        /// Where its block stood among the recently reported SACK blocks before it arrived (0 when
        /// it advanced RCV.NXT or SACK is off).
        var blockPosition: Int
        /// SACK is in use on the connection.
        var sackEnabled: Bool
    }

    /// Out-of-order data, or data that filled (part of) a hole: returns true when an ACK is due now
    /// (RFC 5681 §4.2, Linux `__tcp_ack_snd_check`); otherwise the ACK is held (`SACKCompression`).
    /// `rtt` is the receiver's RTT estimate, if any.
    mutating func outOfOrderData(length: Int, _ arrival: OutOfOrderArrival, now: NetInstant, rtt: Int64?) -> Bool {
        segmentSizeEstimate = Swift.max(segmentSizeEstimate, length)
        // A filled hole: at once (RFC 5681 §4.2; Linux ICSK_ACK_NOW when the queue empties, and an ACK
        // for more than one segment moved when it does not).
        if arrival.advanced > 0 || !arrival.holesRemain { return true }
        if quickAcksRemaining > 0 {
            // Linux counts quick-ACKs per ACK sent, so out-of-order ones use them up too.
            quickAcksRemaining -= 1
            return true
        }
        guard arrival.sackEnabled, compression != nil else { return true }
        return compression!.outOfOrderArrival(
            rcvNxt: arrival.rcvNxt, blockPosition: arrival.blockPosition, now: now, rtt: rtt)
    }

    /// A timer fired: returns true if an ACK is due (the delayed ACK, the stretch ACK or the held SACK
    /// ACK).
    mutating func timerExpired(now: NetInstant) -> Bool {
        var due = false
        if let d = delayedAckDeadline, d <= now {
            delayedAckDeadline = nil
            due = true
        }
        if let d = stretchDeadline, d <= now {
            stretchDeadline = nil
            due = true
        }
        if compression?.timerExpired(now: now) == true { due = true }
        return due
    }

    /// A segment carrying the current acknowledgment went out.
    mutating func ackSent() {
        unacknowledgedBytes = 0
        delayedAckDeadline = nil
        stretchDeadline = nil
        compression?.ackSent()
    }

    /// The connection ended or entered TIME-WAIT: no more delayed ACKs.
    mutating func cancel() {
        delayedAckDeadline = nil
        stretchDeadline = nil
        compression?.ackSent()
    }
}
