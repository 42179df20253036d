import Wire

/// SACK-ACK compression (Linux `__tcp_ack_snd_check` with the `net.ipv4.tcp_comp_sack_*` settings):
/// while data is held out of order, the first `duplicateThreshold` out-of-order arrivals at one
/// RCV.NXT are acknowledged at once — a sender that counts duplicate ACKs needs that many (RFC 5681
/// §3.2 DupThresh; RFC 6675 §5) — and further ones are held: one ACK, with the SACK blocks of its
/// moment, goes out when the compression timer (5 % of the RTT, at most `maximumDelay`) expires or
/// when `maximumHeld` are held, whichever comes first. Any segment that carries the acknowledgment
/// ends the hold (`ackSent()`).
///
/// RFC 5681 §4.2 says an out-of-order segment SHOULD be acknowledged at once; Linux compresses since
/// 4.18, and a sender that reads SACK blocks (RFC 6675, RFC 8985) loses nothing it needs: every block
/// still reaches it, within a fraction of a round trip, while it decrypts, routes and parses far fewer
/// ACKs during a loss episode.
struct SACKCompression: Hashable {
    /// Out-of-order arrivals at one RCV.NXT acknowledged at once: Linux `TCP_FASTRETRANS_THRESH`,
    /// RFC 5681 §3.2 DupThresh.
    static let duplicateThreshold = 3
    /// Held ACKs after which one is sent anyway: Linux `net.ipv4.tcp_comp_sack_nr` (default 44).
    static let maximumHeld = 44
    /// The longest hold, nanoseconds: Linux `net.ipv4.tcp_comp_sack_delay_ns` (default 1 ms).
    static let maximumDelay: Int64 = 1_000_000
    /// The hold is this fraction of the RTT: Linux's "5 % of rtt".
    static let rttDivisor: Int64 = 20
    /// A held ACK is sent before the blocks it would report fall out of the first two an ACK carries:
    /// Linux `TCP_SACK_BLOCKS_EXPECTED` ("given that SACK packets might be lost, be conservative and
    /// use 2").
    static let reportedBlocksExpected = 2

    /// ACKs held since the last one sent (Linux `compressed_ack`).
    private(set) var held = 0
    /// When the held ACK must go out.
    private(set) var deadline: NetInstant? = nil
    /// The RCV.NXT the immediate ACKs were counted at (Linux `compressed_ack_rcv_nxt`).
    private var countedAt: SequenceNumber? = nil
    /// Immediate ACKs sent for out-of-order arrivals at `countedAt` (Linux `dup_ack_counter`).
    private(set) var immediateAcks = 0

    init() {}

    /// An out-of-order segment arrived, RCV.NXT unchanged at `rcvNxt`; `blockPosition` is where the
    /// block it joined (or its new block) stood in the list of recently reported blocks before it
    /// arrived (`SACKBlockList.noteArrival`); `rtt` the receiver's RTT estimate, if any (without one the
    /// hold ends at `now`: the ACK leaves with the caller's next output, once per batch of segments, as
    /// Linux's timer with a zero delay). Returns true when an ACK is due now; otherwise the ACK is held
    /// until `deadline`.
    mutating func outOfOrderArrival(rcvNxt: SequenceNumber, blockPosition: Int, now: NetInstant, rtt: Int64?) -> Bool {
        // A block that was not among the first two reported: what is held goes out now, so that the
        // sender learns of the older blocks before the newer ones push them out of the option.
        if held > 0 && blockPosition >= Self.reportedBlocksExpected { return true }
        if held >= Self.maximumHeld { return true }
        if countedAt != rcvNxt {
            countedAt = rcvNxt
            immediateAcks = 0
        }
        if immediateAcks < Self.duplicateThreshold {
            immediateAcks += 1
            return true
        }
        held += 1
        if deadline == nil {
            let delay = Swift.min(Self.maximumDelay, Swift.max(0, rtt ?? 0) / Self.rttDivisor)
            deadline = now + delay
        }
        return false
    }

    /// The compression timer fired: returns true if an ACK is due.
    mutating func timerExpired(now: NetInstant) -> Bool {
        guard let d = deadline, d <= now else { return false }
        deadline = nil
        return held > 0
    }

    /// A segment carrying the current acknowledgment went out: nothing is held any more.
    mutating func ackSent() {
        held = 0
        deadline = nil
    }
}
