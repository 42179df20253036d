/// The send sequence variables of RFC 9293 §3.3.1 (SND.UNA, SND.NXT, SND.WND, SND.WL1, SND.WL2, ISS),
/// plus the highest sequence number ever sent and the largest window the peer offered.
public struct SendSequenceSpace: Hashable, Sendable {
    /// ISS: initial send sequence number.
    public internal(set) var iss: SequenceNumber
    /// SND.UNA: oldest unacknowledged sequence number.
    public internal(set) var una: SequenceNumber
    /// SND.NXT: next sequence number to send (moves back to SND.UNA on a retransmission timeout).
    public internal(set) var nxt: SequenceNumber
    /// Highest SND.NXT so far; ACKs up to it are acceptable (RFC 5961 §5.2 uses SND.NXT, which equals
    /// this except while retransmitting after a timeout).
    public internal(set) var max: SequenceNumber
    /// SND.WND, already scaled.
    public internal(set) var window: Int
    /// SND.WL1 / SND.WL2: segment seq/ack used for the last window update.
    public internal(set) var wl1: SequenceNumber
    public internal(set) var wl2: SequenceNumber
    /// MAX.SND.WND (RFC 5961 §5.2; RFC 9293 §3.8.6.2.1 "Max(SND.WND)").
    public internal(set) var maxWindow: Int
    /// Shift applied to the peer's window field (RFC 7323 §2.3).
    public internal(set) var scale: UInt8

    init(iss: SequenceNumber) {
        self.iss = iss
        una = iss
        nxt = iss
        max = iss
        window = 0
        wl1 = SequenceNumber(0)
        wl2 = iss
        maxWindow = 0
        scale = 0
    }
}

/// The receive sequence variables of RFC 9293 §3.3.1 (RCV.NXT, RCV.WND, IRS).
public struct ReceiveSequenceSpace: Hashable, Sendable {
    /// IRS: the peer's initial sequence number.
    public internal(set) var irs: SequenceNumber
    /// RCV.NXT: next sequence number expected.
    public internal(set) var nxt: SequenceNumber
    /// RCV.NXT + RCV.WND as last advertised; never moves left (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4).
    public internal(set) var advertisedEdge: SequenceNumber
    /// Shift applied to the window this side advertises (RFC 7323 §2.3).
    public internal(set) var scale: UInt8

    init() {
        irs = SequenceNumber(0)
        nxt = SequenceNumber(0)
        advertisedEdge = SequenceNumber(0)
        scale = 0
    }

    /// RCV.WND as last advertised.
    public var window: Int { Swift.max(0, advertisedEdge - nxt) }
}
