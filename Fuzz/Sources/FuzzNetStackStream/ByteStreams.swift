#if canImport(Glibc)
import Glibc
#endif

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

/// The first `count` bytes of both streams, computed once per process (`LLVMFuzzerInitialize`).
///
/// Profile (2026-12-02): the byte-by-byte loops that made the peer's payloads and the application's
/// writes and checked every byte read and sent — instrumented code, one call and one comparison per
/// byte, up to 20 000 bytes per operation — were a large part of an input's time. Copying from and
/// comparing against these tables does the same: the bytes are the same functions of the offset, and
/// a comparison that fails is repeated byte by byte to name the first wrong offset. Offsets outside
/// the tables (negative ones, or past 1 MiB) use the functions.
struct StreamTable {
    static let count = 1 << 20
    let bytes: UnsafeMutableBufferPointer<UInt8>
    let byte: (Int) -> UInt8

    init(_ byte: @escaping (Int) -> UInt8) {
        self.byte = byte
        bytes = .allocate(capacity: Self.count)
        for offset in 0..<Self.count { bytes[offset] = byte(offset) }
    }

    /// Writes the stream's bytes at `start..<start + count` to `destination`.
    func copy(from start: Int, count: Int, into destination: UnsafeMutableRawPointer) {
        guard count > 0 else { return }
        if start >= 0, start + count <= Self.count {
            destination.copyMemory(from: bytes.baseAddress! + start, byteCount: count)
        } else {
            for i in 0..<count { destination.storeBytes(of: byte(start + i), toByteOffset: i, as: UInt8.self) }
        }
    }

    /// The first offset in `start..<start + data.count` where `data` differs from the stream, if any.
    func firstMismatch(_ data: UnsafeRawBufferPointer, at start: Int) -> Int? {
        guard !data.isEmpty else { return nil }
        if start >= 0, start + data.count <= Self.count,
           memcmp(data.baseAddress!, bytes.baseAddress! + start, data.count) == 0 {
            return nil
        }
        for i in 0..<data.count where data[i] != byte(start + i) { return start + i }
        return nil
    }
}

nonisolated(unsafe) let peerStream = StreamTable(peerByte)
nonisolated(unsafe) let applicationStream = StreamTable(applicationByte)
