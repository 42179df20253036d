import Wire

/// The sender's record of what the peer has selectively acknowledged above SND.UNA (RFC 6675 §3
/// "scoreboard"), and the RFC 6675 §4 quantities derived from it: IsLost(), the bytes SACKed below a
/// point, and the next unSACKed sequence number.
///
/// Ranges are half-open `[left, right)`, sorted, disjoint and non-adjacent, all above SND.UNA. Their
/// number is bounded by what the peer can SACK, which is bounded by the send buffer; storage grows to
/// the largest number seen and is then reused.
struct SACKScoreboard: Hashable {
    struct Range: Hashable {
        var left: SequenceNumber
        var right: SequenceNumber
        var length: Int { right - left }
    }

    private(set) var ranges: [Range] = []
    /// Total bytes in `ranges`.
    private(set) var sackedBytes = 0

    /// What one ACK's SACK blocks told the sender.
    struct Update: Equatable {
        /// Bytes SACKed for the first time.
        var newlySacked = 0
        /// The first block reported data already acknowledged or SACKed (RFC 2883 §4: a D-SACK);
        /// its length, or 0.
        var duplicateBytes = 0
        /// The D-SACK block, if any.
        var duplicate: Range? = nil
    }

    var isEmpty: Bool { ranges.isEmpty }

    /// Highest SACKed sequence number + 1, or nil.
    var highestSacked: SequenceNumber? { ranges.last?.right }

    /// Records the blocks of an ACK whose cumulative point is `una` (already advanced), for data up to
    /// `sndMax`. Blocks outside (una, sndMax] are ignored (RFC 2018 §4 does not require them to be
    /// valid). RFC 2883 §4: a first block below the cumulative ACK, or inside the second block, is a
    /// D-SACK; nothing else is (Linux `tcp_check_dsack` applies the same two tests).
    mutating func update(blocks: TCPSACKBlocks, ack: SequenceNumber, una: SequenceNumber, sndMax: SequenceNumber) -> Update {
        var result = Update()
        for (index, block) in blocks.enumerated() {
            let left = SequenceNumber(block.left)
            let right = SequenceNumber(block.right)
            guard left < right, right - left <= Int(Int32.max) else { continue }
            if index == 0 {
                let belowAck = right <= ack
                var insideSecond = false
                if blocks.count > 1 {
                    let second = blocks[blocks.startIndex + 1]
                    insideSecond = SequenceNumber(second.left) <= left && right <= SequenceNumber(second.right)
                }
                // Only these two forms: a first block that merely repeats SACKed data (receivers list the
                // block of the latest arrival first and keep repeating it, e.g. on an ACK that advances
                // SND.UNA, RFC 2018 §4) reports nothing duplicated, and counting it undid real recoveries.
                if belowAck || insideSecond {
                    result.duplicateBytes = right - left
                    result.duplicate = Range(left: left, right: right)
                    continue
                }
            }
            let l = SequenceNumber.max(left, una)
            let r = right > sndMax ? sndMax : right
            guard l < r else { continue }
            result.newlySacked += insert(Range(left: l, right: r))
        }
        return result
    }

    /// Whether `[left, right)` is entirely SACKed already.
    func covers(left: SequenceNumber, right: SequenceNumber) -> Bool {
        ranges.contains { $0.left <= left && right <= $0.right }
    }

    /// Inserts a range, merging; returns the bytes that were not SACKed before.
    private mutating func insert(_ range: Range) -> Int {
        var i = 0
        while i < ranges.count && ranges[i].right < range.left { i += 1 }
        var merged = range
        var j = i
        var previouslyCovered = 0
        while j < ranges.count && ranges[j].left <= range.right {
            let overlapLeft = SequenceNumber.max(ranges[j].left, range.left)
            let overlapRight = ranges[j].right < range.right ? ranges[j].right : range.right
            if overlapLeft < overlapRight { previouslyCovered += overlapRight - overlapLeft }
            if ranges[j].left < merged.left { merged.left = ranges[j].left }
            if ranges[j].right > merged.right { merged.right = ranges[j].right }
            j += 1
        }
        let before = ranges[i..<j].reduce(0) { $0 + $1.length }
        ranges.replaceSubrange(i..<j, with: CollectionOfOne(merged))
        sackedBytes += merged.length - before
        return range.length - previouslyCovered
    }

    /// SND.UNA advanced to `una`: forget everything below it.
    mutating func advance(to una: SequenceNumber) {
        var drop = 0
        while drop < ranges.count && ranges[drop].right <= una {
            sackedBytes -= ranges[drop].length
            drop += 1
        }
        if drop > 0 { ranges.removeFirst(drop) }
        if let first = ranges.first, first.left < una {
            sackedBytes -= una - first.left
            ranges[0].left = una
        }
    }

    mutating func removeAll() {
        ranges.removeAll(keepingCapacity: true)
        sackedBytes = 0
    }

    /// Nothing is outstanding, so nothing is SACKed: gives the ranges' storage back.
    mutating func releaseStorage() {
        guard ranges.isEmpty, ranges.capacity > 0 else { return }
        ranges = []
    }

    /// Bytes SACKed in `[from, to)`.
    func sackedBytes(from: SequenceNumber, to: SequenceNumber) -> Int {
        var total = 0
        for range in ranges {
            if range.left >= to { break }
            let l = SequenceNumber.max(range.left, from)
            let r = range.right < to ? range.right : to
            if l < r { total += r - l }
        }
        return total
    }

    /// RFC 6675 §4 IsLost(): an unSACKed byte is lost when DupThresh discontiguous SACKed ranges, or more
    /// than (DupThresh − 1)·SMSS SACKed bytes, lie above it. Every unSACKed byte below the returned
    /// boundary is lost, none above it (the SACKed bytes above a point only grow as the point moves down).
    func lossBoundary(duplicateThreshold: Int, smss: Int) -> SequenceNumber? {
        guard !ranges.isEmpty else { return nil }
        var bytesAbove = 0
        var boundary: SequenceNumber? = nil
        for (count, range) in ranges.reversed().enumerated() {
            bytesAbove += range.length
            if count + 1 >= duplicateThreshold || bytesAbove > (duplicateThreshold - 1) * smss {
                boundary = range.left
                break
            }
        }
        return boundary
    }

    /// The first unSACKed sequence number at or after `seq`, and how many bytes from there are unSACKed
    /// before the next SACKed range (nil: unlimited).
    func nextUnsacked(from seq: SequenceNumber) -> (seq: SequenceNumber, room: Int?) {
        var s = seq
        for range in ranges {
            if range.right <= s { continue }
            if range.left <= s {
                s = range.right
                continue
            }
            return (s, range.left - s)
        }
        return (s, nil)
    }
}
