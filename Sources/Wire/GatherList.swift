/// The bytes of a packet that were left where they are instead of being copied into its buffer: up to
/// ``capacity`` runs, each a range of the packet and the memory that holds it (a TCP send buffer's
/// chunks). The packet buffer holds every other byte (the headers); whoever consumes the packet reads
/// the runs from their sources — the WireGuard seal encrypts them straight into the datagram — or calls
/// ``copy(into:)`` first when it needs the packet in one piece.
///
/// A plain value with inline storage (no heap): it travels through the data path by copy. The sources
/// must stay valid and unchanged until the packet has been consumed; the producer documents how long
/// that is (`IPStack.nextOutgoingPacket(into:gathering:now:)`).
public struct GatherList: Sendable {
    /// Most runs one packet can have: a TCP segment's payload crosses at most one chunk boundary of a
    /// send buffer whose chunks are larger than a segment; three leave room for smaller chunks.
    public static let capacity = 3

    /// Packet bytes `offset ..< offset + count`, stored at `source`.
    public struct Run: @unchecked Sendable {
        /// Where the run starts in the packet.
        public let offset: Int
        /// The run's bytes.
        public let source: UnsafeRawPointer
        /// The run's length.
        public let count: Int

        /// The run's bytes as a buffer.
        @inlinable
        public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: source, count: count) }
    }

    @usableFromInline
    var runs: (Run?, Run?, Run?) = (nil, nil, nil)
    /// How many runs the list holds.
    public private(set) var count = 0

    /// An empty list: the whole packet is in its buffer.
    @inlinable
    public init() {}

    /// True when the whole packet is in its buffer.
    @inlinable
    public var isEmpty: Bool { count == 0 }

    /// Where the last run ends in the packet (0 when the list is empty).
    public var end: Int {
        guard count > 0 else { return 0 }
        let last = self[count - 1]
        return last.offset + last.count
    }

    /// Adds packet bytes `offset ..< offset + source.count`, read from `source`. Runs are added in
    /// increasing order of `offset`, without overlap (a run before ``end`` is a programming error);
    /// an empty `source` adds nothing. Returns false, adding nothing, when ``capacity`` runs are held
    /// (the caller then copies the bytes into the packet buffer instead).
    public mutating func append(_ source: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        guard let base = source.baseAddress, source.count > 0 else { return true }
        precondition(offset >= end, "GatherList runs must be added in order, without overlap")
        guard count < Self.capacity else { return false }
        let run = Run(offset: offset, source: base, count: source.count)
        switch count {
        case 0: runs.0 = run
        case 1: runs.1 = run
        default: runs.2 = run
        }
        count += 1
        return true
    }

    /// Run `index` (0 ..< ``count``), in packet order.
    @inlinable
    public subscript(index: Int) -> Run {
        precondition(index >= 0 && index < count, "GatherList index out of range")
        switch index {
        case 0: return runs.0!
        case 1: return runs.1!
        default: return runs.2!
        }
    }

    /// Copies every run into `packet` (the packet's buffer, from its first byte), making the packet
    /// whole there. `packet` must reach ``end``.
    public func copy(into packet: UnsafeMutableRawBufferPointer) {
        precondition(packet.count >= end, "GatherList.copy into a buffer shorter than the packet")
        for index in 0..<count {
            let run = self[index]
            (packet.baseAddress! + run.offset).copyMemory(from: run.source, byteCount: run.count)
        }
    }
}
