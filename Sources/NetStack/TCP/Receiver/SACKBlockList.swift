import Wire

/// Chooses the SACK blocks a receiver reports (RFC 2018 §4) and the D-SACK block (RFC 2883 §4).
///
/// RFC 2018 §4: the first block holds the segment that arrived most recently; the following blocks
/// repeat the most recently reported ones, so that every block is reported at least three times even
/// when ACKs are lost. A block always reports the whole contiguous range held, as the reassembly queue
/// now sees it. RFC 2883 §4: a duplicate segment is reported once as the first block, followed by the
/// block that contains it if there is one.
///
/// The list keeps one entry per *block*, most recently reported first (Linux's `selective_acks`,
/// `tcp_sack_new_ofo_skb`): a run of segments extending one block moves that block to the front and
/// leaves the others in their order, so that the blocks reported before it keep being repeated.
struct SACKBlockList {
    /// Blocks remembered: one more than an ACK with timestamps carries (Linux keeps 4).
    static let remembered = TCPSACKBlocks.capacity
    /// A sequence number inside each recently reported block, most recent first, one per block.
    private var recent: [SequenceNumber] = []
    /// A pending D-SACK: `[left, right)` of duplicate data received since the last ACK.
    private var duplicate: (left: SequenceNumber, right: SequenceNumber)? = nil

    /// Storage is reserved at the first out-of-order arrival and released once no block is left to
    /// report: an idle connection holds none.
    init() {}

    /// Whether an ACK sent now should carry SACK information even with an empty reassembly queue.
    var hasDuplicate: Bool { duplicate != nil }

    /// Out-of-order data starting at `seq` arrived and is held (already added to `assembler`, whose
    /// offsets are relative to `rcvNxt`): its block becomes the first, and any entry for the same block
    /// (now merged with it) goes. Returns where that block stood before (the first such entry when the
    /// arrival merged several; the count of entries when it is a new block), as Linux's
    /// `tcp_sack_new_ofo_skb` sees it (for `SACKCompression`).
    @discardableResult
    mutating func noteArrival(_ seq: SequenceNumber, rcvNxt: SequenceNumber, assembler: SegmentAssembler) -> Int {
        if recent.capacity == 0 { recent.reserveCapacity(Self.remembered + 1) }
        let offset = seq - rcvNxt
        let position: Int
        if let range = assembler.ranges.first(where: { $0.start <= offset && offset < $0.end }) {
            var first: Int? = nil
            var k = 0
            while k < recent.count {
                let o = recent[k] - rcvNxt
                if range.start <= o && o < range.end {
                    if first == nil { first = k }
                    recent.remove(at: k)
                } else {
                    k += 1
                }
            }
            position = first ?? recent.count
        } else {
            position = recent.firstIndex(of: seq) ?? recent.count
            recent.removeAll { $0 == seq }
        }
        recent.insert(seq, at: 0)
        if recent.count > Self.remembered { recent.removeLast() }
        return position
    }

    /// Data `[left, right)` that was already received arrived again (RFC 2883 §4).
    mutating func noteDuplicate(left: SequenceNumber, right: SequenceNumber) {
        duplicate = (left, right)
    }

    /// The blocks for an ACK at `rcvNxt`, at most `limit`, with held ranges from `assembler` (offsets
    /// relative to RCV.NXT). Consumes a pending D-SACK.
    mutating func blocks(rcvNxt: SequenceNumber, assembler: SegmentAssembler, limit: Int) -> TCPSACKBlocks {
        var result = TCPSACKBlocks()
        guard limit > 0 else { return result }
        if let d = duplicate {
            duplicate = nil
            result.append(TCPSACKBlock(left: d.left.rawValue, right: d.right.rawValue))
            // RFC 2883 §4 (2): followed by the held block that contains it, if any.
            let offset = d.left - rcvNxt
            if offset >= 0, let range = assembler.ranges.first(where: { $0.start <= offset && offset < $0.end }) {
                result.append(block(range, rcvNxt: rcvNxt))
            }
        }
        // Forget blocks that were delivered or merged into RCV.NXT.
        recent.removeAll { seq in
            let offset = seq - rcvNxt
            return offset < 0 || !assembler.ranges.contains { $0.start <= offset && offset < $0.end }
        }
        // Every hole filled: no storage held until the next out-of-order arrival.
        if recent.isEmpty && recent.capacity > 0 { recent = [] }
        for seq in recent where result.count < limit {
            let offset = seq - rcvNxt
            guard let range = assembler.ranges.first(where: { $0.start <= offset && offset < $0.end }) else { continue }
            let candidate = block(range, rcvNxt: rcvNxt)
            if !result.contains(candidate) { result.append(candidate) }
        }
        // Fill the remaining room with the highest held ranges not yet listed.
        for range in assembler.ranges.reversed() where result.count < limit {
            let candidate = block(range, rcvNxt: rcvNxt)
            if !result.contains(candidate) { result.append(candidate) }
        }
        while result.count > limit { result = TCPSACKBlocks(result.prefix(limit)) }
        return result
    }

    private func block(_ range: (start: Int, end: Int), rcvNxt: SequenceNumber) -> TCPSACKBlock {
        TCPSACKBlock(left: (rcvNxt + range.start).rawValue, right: (rcvNxt + range.end).rawValue)
    }

    mutating func removeAll() {
        recent.removeAll(keepingCapacity: true)
        duplicate = nil
    }
}
