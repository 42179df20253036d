import Wire

/// When the receiver acknowledges data (RFC 9293 §3.8.6.3, RFC 5681 §4.2, RFC 1122 §4.2.3.2):
/// - out-of-order data, and data that fills a hole, at once (RFC 5681 §4.2);
/// - the first segments of a connection at once ("quick-ACK", as Linux's `tcp_enter_quickack_mode`),
///   so that the sender's slow start is not held back by delayed ACKs;
/// - otherwise at least every second full-sized segment, or after the delayed-ACK timeout.
///
/// "Full-sized" is the largest segment received so far (Linux's `rcv_mss` estimate), since the peer's
/// segments can be smaller than our MSS. Sending any segment with ACK (`ackSent()`) satisfies it.
struct AckPolicy: Hashable {
    /// The delayed-ACK timeout, nanoseconds.
    let delay: Int64
    /// In-order segments still acknowledged at once.
    private(set) var quickAcksRemaining: Int
    /// Payload bytes received in order since the last ACK.
    private(set) var unacknowledgedBytes = 0
    /// The largest segment received so far.
    private(set) var segmentSizeEstimate: Int
    /// When the delayed ACK must go out.
    private(set) var deadline: NetInstant? = nil

    init(delay: Int64, quickAcks: Int, initialSegmentSize: Int) {
        self.delay = delay
        quickAcksRemaining = Swift.max(0, quickAcks)
        segmentSizeEstimate = Swift.max(1, initialSegmentSize)
    }

    /// `length` bytes arrived in order and nothing was held out of order before. Returns true when an
    /// ACK is due now; otherwise the delayed-ACK deadline is armed.
    mutating func inOrderData(length: Int, now: NetInstant) -> Bool {
        segmentSizeEstimate = Swift.max(segmentSizeEstimate, length)
        unacknowledgedBytes += length
        if quickAcksRemaining > 0 {
            quickAcksRemaining -= 1
            return true
        }
        // RFC 5681 §4.2: "an ACK SHOULD be generated for at least every second full-sized segment".
        if unacknowledgedBytes >= 2 * segmentSizeEstimate { return true }
        if deadline == nil { deadline = now + delay }
        return false
    }

    /// Out-of-order data, or data that filled (part of) a hole: ACK at once (RFC 5681 §4.2).
    mutating func outOfOrderData(length: Int) -> Bool {
        segmentSizeEstimate = Swift.max(segmentSizeEstimate, length)
        return true
    }

    /// The delayed-ACK timer fired: returns true if an ACK is due.
    mutating func timerExpired(now: NetInstant) -> Bool {
        guard let d = deadline, d <= now else { return false }
        deadline = nil
        return true
    }

    /// A segment carrying the current acknowledgment went out.
    mutating func ackSent() {
        unacknowledgedBytes = 0
        deadline = nil
    }

    /// The connection ended or entered TIME-WAIT: no more delayed ACKs.
    mutating func cancel() { deadline = nil }
}
