/// Tracks which byte ranges past the receive point have arrived out of order (RFC 9293 §3.10.7.4:
/// segments in the window but beyond RCV.NXT are held for later delivery).
///
/// Offsets are relative to RCV.NXT. At most `maxRanges` disjoint ranges are remembered so that a peer
/// cannot make the tracking grow without bound; a segment that would need more is refused and will be
/// retransmitted by its sender. Storage is reserved at the first out-of-order segment and released
/// when the last hole fills (an idle connection holds none).
struct SegmentAssembler {
    /// Half-open ranges `[start, end)`, sorted, disjoint and non-adjacent.
    private(set) var ranges: [(start: Int, end: Int)]
    let maxRanges: Int

    init(maxRanges: Int) {
        self.maxRanges = maxRanges
        ranges = []
    }

    var isEmpty: Bool { ranges.isEmpty }

    /// End offset of the furthest byte held, or 0.
    var highestEnd: Int { ranges.last?.end ?? 0 }

    /// Records `[start, end)`. Returns false (and records nothing) if that would exceed `maxRanges`.
    mutating func add(start: Int, end: Int) -> Bool {
        guard start < end else { return true }
        // First range whose end reaches `start` (could merge or lie after).
        var i = 0
        while i < ranges.count && ranges[i].end < start { i += 1 }
        // Ranges from i that overlap or touch [start, end).
        var j = i
        var newStart = start
        var newEnd = end
        while j < ranges.count && ranges[j].start <= end {
            newStart = Swift.min(newStart, ranges[j].start)
            newEnd = Swift.max(newEnd, ranges[j].end)
            j += 1
        }
        if i == j {
            guard ranges.count < maxRanges else { return false }
            if ranges.capacity == 0 { ranges.reserveCapacity(Swift.min(maxRanges + 1, 64)) }
            ranges.insert((newStart, newEnd), at: i)
        } else {
            ranges[i] = (newStart, newEnd)
            if j > i + 1 { ranges.removeSubrange((i + 1)..<j) }
        }
        return true
    }

    /// If a range starts at offset 0, removes it and returns its length; shifts the rest down by it.
    mutating func takeContiguousPrefix() -> Int {
        guard let first = ranges.first, first.start == 0 else { return 0 }
        let n = first.end
        ranges.removeFirst()
        for k in ranges.indices {
            ranges[k].start -= n
            ranges[k].end -= n
        }
        if ranges.isEmpty { ranges = [] }
        return n
    }

    /// Shifts all ranges down by `n` (RCV.NXT advanced by `n` in-order bytes), dropping covered parts.
    mutating func advance(by n: Int) {
        guard n > 0 else { return }
        var k = 0
        while k < ranges.count {
            ranges[k].start = Swift.max(0, ranges[k].start - n)
            ranges[k].end -= n
            if ranges[k].end <= 0 { ranges.remove(at: k) } else { k += 1 }
        }
        if ranges.isEmpty && ranges.capacity > 0 { ranges = [] }
    }

    mutating func removeAll() { ranges.removeAll(keepingCapacity: true) }

    /// True if `[start, end)` shares a byte with a recorded range.
    func overlaps(start: Int, end: Int) -> Bool {
        ranges.contains { start < $0.end && $0.start < end }
    }

    /// True if every byte of `[start, end)` has been recorded.
    func covers(start: Int, end: Int) -> Bool {
        ranges.contains { $0.start <= start && end <= $0.end }
    }

    /// True when exactly `[0, length)` has been recorded.
    func covers(length: Int) -> Bool {
        ranges.count == 1 && ranges[0].start == 0 && ranges[0].end == length
    }
}
