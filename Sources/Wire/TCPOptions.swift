/// The TCP options this stack understands (RFC 9293 §3.2, RFC 7323, RFC 2018), parsed from or to
/// be written into a TCP header's option area.
///
/// Parsing walks the kind/length list once: End of Option List stops it, No-Operation is skipped,
/// unknown kinds are skipped by their length, and any option whose length is below 2, overruns the
/// area, or does not match its kind's fixed size is a ``WireError/malformedOption(_:kind:offset:)``.
///
/// Emission uses the same layout as Linux (so a rebuilt segment matches a captured one byte for
/// byte): MSS; SACK-permitted and timestamps (or NOP-padded alone); NOP + window scale; NOP NOP +
/// SACK blocks. Every part is a multiple of 4 bytes, so no trailing padding is needed.
public struct TCPOptions: Hashable, Sendable {
    /// Maximum Segment Size (RFC 9293 §3.7.1); only meaningful on SYN segments.
    public var maximumSegmentSize: UInt16?
    /// Window scale shift count (RFC 7323 §2). Values above 14 are kept as received; RFC 7323 §2.3
    /// tells the receiver to use 14 instead.
    public var windowScale: UInt8?
    /// SACK-permitted (RFC 2018 §2); only meaningful on SYN segments.
    public var sackPermitted: Bool
    /// Timestamps (RFC 7323 §3).
    public var timestamps: TCPTimestamps?
    /// Selective acknowledgment blocks (RFC 2018 §3), at most four.
    public var sackBlocks: TCPSACKBlocks

    /// Option kinds (IANA "TCP Option Kind Numbers").
    enum Kind {
        static let endOfOptionList: UInt8 = 0
        static let noOperation: UInt8 = 1
        static let maximumSegmentSize: UInt8 = 2   // length 4, RFC 9293 §3.2
        static let windowScale: UInt8 = 3          // length 3, RFC 7323 §2.2
        static let sackPermitted: UInt8 = 4        // length 2, RFC 2018 §2
        static let sack: UInt8 = 5                 // length 2 + 8n, RFC 2018 §3
        static let timestamps: UInt8 = 8           // length 10, RFC 7323 §3.2
    }

    /// The largest option area: data offset 15 words minus the 20-byte fixed header (RFC 9293 §3.1).
    public static let maximumLength = 40

    /// Options with the given values; all absent by default.
    public init(
        maximumSegmentSize: UInt16? = nil, windowScale: UInt8? = nil, sackPermitted: Bool = false,
        timestamps: TCPTimestamps? = nil, sackBlocks: TCPSACKBlocks = []
    ) {
        self.maximumSegmentSize = maximumSegmentSize
        self.windowScale = windowScale
        self.sackPermitted = sackPermitted
        self.timestamps = timestamps
        self.sackBlocks = sackBlocks
    }

    /// Parses an option area (the bytes between the fixed header and the data).
    public init(parsing area: UnsafeRawBufferPointer) throws(WireError) {
        self.init()
        var offset = 0
        while offset < area.count {
            let kind = area.byte(offset)
            if kind == Kind.endOfOptionList { break }
            if kind == Kind.noOperation {
                offset += 1
                continue
            }
            guard area.count - offset >= 2 else { throw .malformedOption(.tcp, kind: kind, offset: offset) }
            let length = Int(area.byte(offset + 1))
            guard length >= 2, length <= area.count - offset else {
                throw .malformedOption(.tcp, kind: kind, offset: offset)
            }
            let value = area.slice(offset + 2, offset + length)
            switch kind {
            case Kind.maximumSegmentSize:
                guard length == 4 else { throw .malformedOption(.tcp, kind: kind, offset: offset) }
                maximumSegmentSize = value.bigEndianUInt16(0)
            case Kind.windowScale:
                guard length == 3 else { throw .malformedOption(.tcp, kind: kind, offset: offset) }
                windowScale = value.byte(0)
            case Kind.sackPermitted:
                guard length == 2 else { throw .malformedOption(.tcp, kind: kind, offset: offset) }
                sackPermitted = true
            case Kind.sack:
                guard length >= 10, (length - 2) % 8 == 0 else {
                    throw .malformedOption(.tcp, kind: kind, offset: offset)
                }
                var blocks = TCPSACKBlocks()
                var blockOffset = 0
                while blockOffset < value.count {
                    blocks.append(TCPSACKBlock(
                        left: value.bigEndianUInt32(blockOffset), right: value.bigEndianUInt32(blockOffset + 4)))
                    blockOffset += 8
                }
                sackBlocks = blocks
            case Kind.timestamps:
                guard length == 10 else { throw .malformedOption(.tcp, kind: kind, offset: offset) }
                timestamps = TCPTimestamps(value: value.bigEndianUInt32(0), echoReply: value.bigEndianUInt32(4))
            default:
                break  // Unknown options are skipped by their length (RFC 9293 §3.2).
            }
            offset += length
        }
    }

    /// True when no option is set.
    public var isEmpty: Bool { self == TCPOptions() }

    /// How many SACK blocks fit after the other options (RFC 2018 §3: four alone, three with timestamps).
    var emittedSACKBlockCount: Int {
        guard !sackBlocks.isEmpty else { return 0 }
        let room = TCPOptions.maximumLength - fixedPartLength - 4
        return max(0, min(sackBlocks.count, room / 8))
    }

    private var fixedPartLength: Int {
        var length = 0
        if maximumSegmentSize != nil { length += 4 }
        if timestamps != nil { length += 12 } else if sackPermitted { length += 4 }
        if windowScale != nil { length += 4 }
        return length
    }

    /// Bytes ``emit(into:)`` writes: a multiple of 4, at most 40. SACK blocks that do not fit after
    /// the other options are left out (the first ones, which RFC 2018 §4 says carry the newest data, are kept).
    public var encodedLength: Int {
        let count = emittedSACKBlockCount
        return fixedPartLength + (count > 0 ? 4 + 8 * count : 0)
    }

    /// Writes the options at the start of `buffer` in Linux's layout and returns ``encodedLength``.
    /// - Throws: ``WireError/bufferTooSmall(_:needed:available:)``.
    @discardableResult
    public func emit(into buffer: UnsafeMutableRawBufferPointer) throws(WireError) -> Int {
        let length = encodedLength
        guard buffer.count >= length else { throw .bufferTooSmall(.tcp, needed: length, available: buffer.count) }
        var offset = 0
        if let mss = maximumSegmentSize {
            buffer.storeByte(Kind.maximumSegmentSize, at: offset)
            buffer.storeByte(4, at: offset + 1)
            buffer.storeBigEndian(mss, at: offset + 2)
            offset += 4
        }
        if let timestamps {
            if sackPermitted {
                buffer.storeByte(Kind.sackPermitted, at: offset)
                buffer.storeByte(2, at: offset + 1)
            } else {
                buffer.storeByte(Kind.noOperation, at: offset)
                buffer.storeByte(Kind.noOperation, at: offset + 1)
            }
            buffer.storeByte(Kind.timestamps, at: offset + 2)
            buffer.storeByte(10, at: offset + 3)
            buffer.storeBigEndian(timestamps.value, at: offset + 4)
            buffer.storeBigEndian(timestamps.echoReply, at: offset + 8)
            offset += 12
        } else if sackPermitted {
            buffer.storeByte(Kind.noOperation, at: offset)
            buffer.storeByte(Kind.noOperation, at: offset + 1)
            buffer.storeByte(Kind.sackPermitted, at: offset + 2)
            buffer.storeByte(2, at: offset + 3)
            offset += 4
        }
        if let windowScale {
            buffer.storeByte(Kind.noOperation, at: offset)
            buffer.storeByte(Kind.windowScale, at: offset + 1)
            buffer.storeByte(3, at: offset + 2)
            buffer.storeByte(windowScale, at: offset + 3)
            offset += 4
        }
        let blockCount = emittedSACKBlockCount
        if blockCount > 0 {
            buffer.storeByte(Kind.noOperation, at: offset)
            buffer.storeByte(Kind.noOperation, at: offset + 1)
            buffer.storeByte(Kind.sack, at: offset + 2)
            buffer.storeByte(UInt8(2 + 8 * blockCount), at: offset + 3)
            offset += 4
            for block in sackBlocks.prefix(blockCount) {
                buffer.storeBigEndian(block.left, at: offset)
                buffer.storeBigEndian(block.right, at: offset + 4)
                offset += 8
            }
        }
        return offset
    }
}

/// The TCP timestamps option's two values (RFC 7323 §3.2).
public struct TCPTimestamps: Hashable, Sendable {
    /// TSval: the sender's timestamp clock.
    public var value: UInt32
    /// TSecr: the TSval being echoed (valid when ACK is set).
    public var echoReply: UInt32

    /// Timestamps with the given TSval and TSecr.
    public init(value: UInt32, echoReply: UInt32) {
        self.value = value
        self.echoReply = echoReply
    }
}

/// One SACK block: the sequence space `left..<right` received out of order (RFC 2018 §3).
public struct TCPSACKBlock: Hashable, Sendable {
    /// Left edge: first sequence number of the block.
    public var left: UInt32
    /// Right edge: sequence number just after the block.
    public var right: UInt32

    /// The block `left..<right`.
    public init(left: UInt32, right: UInt32) {
        self.left = left
        self.right = right
    }
}

/// Up to four SACK blocks, stored inline (no heap allocation). RFC 2018 §3: 40 option bytes hold
/// at most four blocks.
public struct TCPSACKBlocks: RandomAccessCollection, Hashable, Sendable, ExpressibleByArrayLiteral {
    /// The most blocks a TCP header can carry.
    public static let capacity = 4

    private var storage: (TCPSACKBlock, TCPSACKBlock, TCPSACKBlock, TCPSACKBlock)
    /// Number of blocks stored, 0...4.
    public private(set) var count: Int

    /// No blocks.
    public init() {
        let empty = TCPSACKBlock(left: 0, right: 0)
        storage = (empty, empty, empty, empty)
        count = 0
    }

    /// The first four blocks of `blocks`; any further ones are dropped.
    public init(_ blocks: some Sequence<TCPSACKBlock>) {
        self.init()
        for block in blocks {
            guard append(block) else { break }
        }
    }

    /// The first four of the listed blocks.
    public init(arrayLiteral elements: TCPSACKBlock...) { self.init(elements) }

    /// Appends `block` if there is room; returns false (and changes nothing) when four are stored.
    @discardableResult
    public mutating func append(_ block: TCPSACKBlock) -> Bool {
        switch count {
        case 0: storage.0 = block
        case 1: storage.1 = block
        case 2: storage.2 = block
        case 3: storage.3 = block
        default: return false
        }
        count += 1
        return true
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    /// The block at `index` (0..<count). An index past `count` is a programming error; it returns a
    /// stale slot rather than trapping.
    public subscript(index: Int) -> TCPSACKBlock {
        switch index {
        case 1: return storage.1
        case 2: return storage.2
        case 3: return storage.3
        default: return storage.0
        }
    }

    public static func == (lhs: TCPSACKBlocks, rhs: TCPSACKBlocks) -> Bool { lhs.elementsEqual(rhs) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for block in self { hasher.combine(block) }
    }
}
