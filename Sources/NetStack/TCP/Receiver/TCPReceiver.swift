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
    /// auto-tuning the limit is `bufferSize`. `quickAckReentry`, `sackCompression` and
    /// `stretchAckSegments` set those rules of the ACK policy (see `AckPolicy`).
    init(
        bufferSize: Int, delayedAck: Int64, quickAcks: Int, mss: Int, initialWindow: Int = .max,
        autoTuning: Bool = false, quickAckReentry: Bool = true, sackCompression: Bool = true,
        stretchAckSegments: Int = 2
    ) {
        reassembly = SegmentAssembler(maxRanges: Swift.max(16, bufferSize / Self.minimumHeldSegment))
        ackPolicy = AckPolicy(
            delay: delayedAck, quickAcks: quickAcks, initialSegmentSize: Swift.min(mss, 536),
            quickAckReentry: quickAckReentry, compression: sackCompression, stretchSegments: stretchAckSegments)
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
    /// sequence number. `rtt` is the receiver's RTT estimate if any (for SACK compression and stretch
    /// ACKs), `rto` the connection's retransmission timeout (a longer silence re-enters quick-ACK
    /// mode).
    mutating func receive(
        seq: SequenceNumber, offset: Int, length: Int, rcvNxt: SequenceNumber, now: NetInstant,
        rtt: Int64? = nil, rto: Int64 = .max
    ) -> Arrival {
        ackPolicy.dataArrived(now: now, idleThreshold: rto, window: window.limit)
        let hadHoles = !reassembly.isEmpty
        // In-order data with nothing held, the common case: delivered without the assembler, whose
        // storage is reserved at the first out-of-order segment and released when the last hole fills
        // (through it, every in-order segment reserved and released it: an allocation per packet).
        if offset == 0 && !hadHoles {
            return .stored(ready: length, ackNow: ackPolicy.inOrderData(length: length, now: now, rtt: rtt))
        }
        if sackEnabled && reassembly.covers(start: offset, end: offset + length) {
            // RFC 2883 §4: all of it was already held: report it as a D-SACK.
            sackBlocks.noteDuplicate(left: seq, right: seq + length)
            return .refused
        }
        guard reassembly.add(start: offset, end: offset + length) else { return .refused }
        var blockPosition = 0
        if offset > 0 { blockPosition = sackBlocks.noteArrival(seq, rcvNxt: rcvNxt, assembler: reassembly) }
        let ready = reassembly.takeContiguousPrefix()
        if offset > 0 || hadHoles {
            let arrival = AckPolicy.OutOfOrderArrival(
                advanced: ready, holesRemain: !reassembly.isEmpty, rcvNxt: rcvNxt + ready,
                blockPosition: blockPosition, sackEnabled: sackEnabled)
            return .stored(ready: ready, ackNow: ackPolicy.outOfOrderData(length: length, arrival, now: now, rtt: rtt))
        }
        return .stored(ready: ready, ackNow: ackPolicy.inOrderData(length: length, now: now, rtt: rtt))
    }

    /// Data that lies below RCV.NXT arrived again (RFC 2883 §4: report it). `entirely`: all of the
    /// segment was received before — the sender missed our ACK or timed out, so the next segments are
    /// acknowledged at once (`AckPolicy.enterQuickAckMode`; Linux does so for such a segment, not for
    /// one that only overlaps RCV.NXT).
    mutating func receiveDuplicate(seq: SequenceNumber, length: Int, entirely: Bool = true) {
        guard length > 0 else { return }
        if entirely { ackPolicy.enterQuickAckMode(window: window.limit) }
        guard sackEnabled else { return }
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
