/// The two byte streams the target checks, as functions of the stream offset: every byte the peer
/// sends at offset `k` of its stream is `peerByte(k)`, every byte the application writes at offset `k`
/// is `applicationByte(k)`. Whatever arrives can then be checked byte by byte against its offset, and a
/// byte delivered at the wrong offset (a misplaced segment, stale ring contents, data from before the
/// initial sequence number) shows up as a mismatch, since neither function repeats with a short period.
func peerByte(_ offset: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: (UInt32(truncatingIfNeeded: offset) &* 0x9E37_79B1) >> 24)
}

func applicationByte(_ offset: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: (UInt32(truncatingIfNeeded: offset) &* 0x85EB_CA77 &+ 0x1234_5678) >> 23)
}

/// Which stream offsets the peer has sent at least once: sorted, disjoint, non-adjacent half-open
/// ranges. The stack may only deliver (and only acknowledge) bytes inside the range that starts at 0.
struct SentRanges {
    private(set) var ranges: [(start: Int, end: Int)] = []

    /// End of the contiguous range from offset 0 (0 when nothing from 0 was sent).
    var contiguousEnd: Int {
        guard let first = ranges.first, first.start == 0 else { return 0 }
        return first.end
    }

    mutating func insert(start: Int, end: Int) {
        guard start < end else { return }
        var merged = (start: start, end: end)
        var kept: [(start: Int, end: Int)] = []
        kept.reserveCapacity(ranges.count + 1)
        var placed = false
        for range in ranges {
            if range.end < merged.start {
                kept.append(range)
            } else if merged.end < range.start {
                if !placed { kept.append(merged); placed = true }
                kept.append(range)
            } else {
                merged = (Swift.min(merged.start, range.start), Swift.max(merged.end, range.end))
            }
        }
        if !placed { kept.append(merged) }
        ranges = kept
    }
}

/// Reads the fuzzer's input front to back; past the end every read is 0, so any input is a program.
struct InputReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    var isAtEnd: Bool { position >= bytes.count }

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }
}
