import Wire

/// Receive-window auto-tuning ("dynamic right-sizing", as Linux's `tcp_rcv_space_adjust`): the window
/// a connection may offer starts small and grows to about twice what the application consumed in one
/// round trip, so that a sender is never held back by the window while a slow reader never gets a
/// window (and so buffered bytes) much larger than it drains.
///
/// The rule, once per measured round trip:
/// - `consumed` = bytes the application read during the round (RCV.NXT minus unread bytes, "copied
///   seq");
/// - if `consumed` is the largest seen so far, the limit becomes `2·consumed + 16·MSS` (Linux's
///   `rcvwin`), bounded by `maximum` (the connection's receive buffer) and by what the node-wide
///   buffer pool can still supply (`tcpBufferMemoryLimit`); it never shrinks.
///
/// The round trip is the receiver's own estimate (Linux `tcp_rcv_rtt_measure`): the time from
/// advertising a right edge until RCV.NXT reaches it. A sender sends at most one window per round
/// trip, so each sample is at least the RTT; the estimate keeps the smallest sample (as Linux does for
/// these window-based samples). Until a sample exists the connection's smoothed RTT (from the
/// handshake) stands in. A stale small estimate only makes the rounds shorter, and so growth slower:
/// the limit never shrinks.
///
/// Buffer storage is taken from the pool in chunks only as bytes arrive, so the limit is a promise,
/// not an allocation.
struct ReceiveWindowTuner: Hashable {
    /// The largest limit: the receive buffer's capacity.
    let maximum: Int
    /// Whether the limit grows; when off it stays at `maximum` (a fixed window).
    let enabled: Bool
    /// The MSS used for the additive term and the first round's threshold.
    private(set) var segmentSize: Int
    /// The window limit now (Linux `window_clamp`): the offered window is at most this minus the bytes
    /// held unread.
    private(set) var limit: Int
    /// The most bytes consumed in one measured round so far (Linux `rcvq_space.space`).
    private(set) var consumedPerRound: Int
    /// The receiver's RTT estimate, nanoseconds (0: none yet).
    private(set) var rtt: Int64 = 0
    /// Start of the current consumption round: when, and the consumed sequence then.
    private var roundStart: NetInstant? = nil
    private var roundStartConsumed = SequenceNumber(0)
    /// RTT sample in progress: the advertised right edge and when it was advertised.
    private var sampleEdge: SequenceNumber? = nil
    private var sampleStart = NetInstant.zero

    /// Linux's additive term: 16 segments beyond twice the consumption.
    static let additiveSegments = 16
    /// Linux `TCP_INIT_CWND`: the first round must consume more than this many segments to grow.
    static let initialRoundSegments = 10

    /// `initial` is the first limit (clamped to `maximum`); when `enabled` is false the limit is
    /// `maximum` from the start.
    init(initial: Int, maximum: Int, segmentSize: Int, enabled: Bool) {
        self.maximum = Swift.max(1, maximum)
        self.enabled = enabled
        self.segmentSize = Swift.max(1, segmentSize)
        limit = enabled ? Swift.max(1, Swift.min(initial, self.maximum)) : self.maximum
        consumedPerRound = Swift.min(limit, Self.initialRoundSegments * self.segmentSize)
    }

    /// The MSS became known (after the handshake).
    mutating func updateSegmentSize(_ mss: Int) {
        segmentSize = Swift.max(1, mss)
        if roundStart == nil { consumedPerRound = Swift.min(limit, Self.initialRoundSegments * segmentSize) }
    }

    /// In-order data moved RCV.NXT to `rcvNxt`; `advertisedEdge` is the right edge offered last.
    /// Takes an RTT sample when RCV.NXT reaches the edge being timed, then times the current edge.
    mutating func dataArrived(rcvNxt: SequenceNumber, advertisedEdge: SequenceNumber, now: NetInstant) {
        guard enabled else { return }
        if let edge = sampleEdge {
            guard rcvNxt >= edge else { return }
            let sample = now.nanoseconds - sampleStart.nanoseconds
            if sample > 0 { rtt = rtt == 0 ? sample : Swift.min(rtt, sample) }
        }
        // Linux skips windows smaller than a segment: they measure the sender's pauses, not the path.
        if advertisedEdge - rcvNxt >= segmentSize {
            sampleEdge = advertisedEdge
            sampleStart = now
        } else {
            sampleEdge = nil
        }
    }

    /// Ends the consumption round if a round trip has passed since it began (`consumed` is RCV.NXT
    /// minus unread bytes; `fallbackRTT` the connection's smoothed RTT; `poolRoom` the bytes the
    /// node's buffer pool can still supply). Returns true when the limit grew.
    mutating func adjust(consumed: SequenceNumber, now: NetInstant, fallbackRTT: Int64?, poolRoom: Int) -> Bool {
        guard enabled else { return false }
        guard let start = roundStart else {
            roundStart = now
            roundStartConsumed = consumed
            return false
        }
        let round = rtt > 0 ? rtt : (fallbackRTT ?? 0)
        guard round > 0, now.nanoseconds - start.nanoseconds >= round else { return false }
        let copied = consumed - roundStartConsumed
        roundStart = now
        roundStartConsumed = consumed
        guard copied > consumedPerRound else { return false }
        consumedPerRound = copied
        let target = 2 * copied + Self.additiveSegments * segmentSize
        let bounded = Swift.min(target, maximum, limit + Swift.min(Swift.max(0, poolRoom), maximum))
        guard bounded > limit else { return false }
        limit = bounded
        return true
    }
}
