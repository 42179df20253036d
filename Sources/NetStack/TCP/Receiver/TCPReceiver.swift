import Wire

/// The receiving half of a connection's machinery: the reassembly queue (which bytes past RCV.NXT are
/// held), the SACK blocks to report (RFC 2018, RFC 2883) and the ACK policy, composed by
/// `TCPConnection`, which keeps the bytes themselves in its receive ring.
///
/// The reassembly queue keeps every in-window segment: its range count is bounded by the receive
/// buffer (one range per `minimumHeldSegment` bytes of buffer), not by a small constant.
struct TCPReceiver {
    /// Smallest segment the range bound assumes: RFC 9293 §3.7.1's default MSS.
    static let minimumHeldSegment = 536

    private(set) var reassembly: SegmentAssembler
    private(set) var sackBlocks = SACKBlockList()
    var ackPolicy: AckPolicy
    /// How large a window may be offered (receive-window auto-tuning).
    var window: ReceiveWindowTuner
    /// Both sides offered SACK-permitted (RFC 2018 §2).
    private(set) var sackEnabled = false

    /// `initialWindow` and `autoTuning` set the window limit (see `ReceiveWindowTuner`); without
    /// auto-tuning the limit is `bufferSize`.
    init(
        bufferSize: Int, delayedAck: Int64, quickAcks: Int, mss: Int, initialWindow: Int = .max,
        autoTuning: Bool = false
    ) {
        reassembly = SegmentAssembler(maxRanges: Swift.max(16, bufferSize / Self.minimumHeldSegment))
        ackPolicy = AckPolicy(delay: delayedAck, quickAcks: quickAcks, initialSegmentSize: Swift.min(mss, 536))
        window = ReceiveWindowTuner(initial: initialWindow, maximum: bufferSize, segmentSize: mss, enabled: autoTuning)
    }

    mutating func enableSACK() { sackEnabled = true }

    /// What arriving text did to the queue.
    enum Arrival: Equatable {
        /// Stored; `ready` bytes are now in order at RCV.NXT; `ackNow` per the ACK policy.
        case stored(ready: Int, ackNow: Bool)
        /// Not stored (nothing new, or no room to track it): acknowledge at once.
        case refused
    }

    /// Records `length` bytes at `offset` from RCV.NXT (already trimmed to the window); `seq` is their
    /// sequence number.
    mutating func receive(
        seq: SequenceNumber, offset: Int, length: Int, rcvNxt: SequenceNumber, now: NetInstant
    ) -> Arrival {
        let hadHoles = !reassembly.isEmpty
        if sackEnabled && reassembly.covers(start: offset, end: offset + length) {
            // RFC 2883 §4: all of it was already held: report it as a D-SACK.
            sackBlocks.noteDuplicate(left: seq, right: seq + length)
            return .refused
        }
        guard reassembly.add(start: offset, end: offset + length) else { return .refused }
        if offset > 0 { sackBlocks.noteArrival(seq, rcvNxt: rcvNxt, assembler: reassembly) }
        let ready = reassembly.takeContiguousPrefix()
        if offset > 0 || hadHoles {
            return .stored(ready: ready, ackNow: ackPolicy.outOfOrderData(length: length))
        }
        return .stored(ready: ready, ackNow: ackPolicy.inOrderData(length: length, now: now))
    }

    /// Data that lies entirely below RCV.NXT arrived again (RFC 2883 §4: report it).
    mutating func receiveDuplicate(seq: SequenceNumber, length: Int) {
        guard sackEnabled, length > 0 else { return }
        sackBlocks.noteDuplicate(left: seq, right: seq + length)
    }

    /// The SACK blocks for an ACK sent now (at most `limit`); empty without SACK.
    mutating func sackBlocksForAck(rcvNxt: SequenceNumber, limit: Int) -> TCPSACKBlocks {
        guard sackEnabled, !reassembly.isEmpty || sackBlocks.hasDuplicate else { return TCPSACKBlocks() }
        return sackBlocks.blocks(rcvNxt: rcvNxt, assembler: reassembly, limit: limit)
    }

    mutating func removeAll() {
        reassembly.removeAll()
        sackBlocks.removeAll()
        ackPolicy.cancel()
    }
}
