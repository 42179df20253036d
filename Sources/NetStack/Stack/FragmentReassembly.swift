import Wire

/// Reassembly of IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5) fragments, bounded in datagrams, bytes
/// and time.
///
/// Fragment data is copied into one of a small pool of 64 KiB buffers (allocated on first use and reused),
/// so a fragment flood costs at most `maximumDatagrams` buffers. Overlapping fragments make the whole
/// datagram invalid (RFC 5722 for IPv6; Linux applies the same rule to IPv4). When the table is full the
/// oldest partial datagram is evicted.
struct FragmentReassembly {
    enum Outcome {
        case incomplete
        case dropped
        case complete(ReassembledDatagram)
    }

    /// A complete datagram's payload, valid until `release(_:)`.
    struct ReassembledDatagram {
        let buffer: Int
        let length: Int
        let storage: UnsafeMutableRawBufferPointer

        func withPayload<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            body(UnsafeRawBufferPointer(rebasing: storage.prefix(length)))
        }
    }

    struct Key: Hashable {
        var source: IPAddress
        var destination: IPAddress
        var protocolNumber: UInt8
        var identification: UInt32
    }

    struct Partial {
        var key: Key
        var buffer: Int
        var ranges: SegmentAssembler
        var totalLength: Int?
        var bytes = 0
        var deadline: NetInstant
    }

    /// Largest reassembled payload (RFC 791: total length 65535 less a 20-byte header; RFC 8200 §4.5:
    /// 65535 bytes of payload).
    static let maximumPayload = 65535
    /// Holes tracked per datagram.
    static let maximumHoles = 64

    let limits: FragmentReassemblyLimits
    private var partials: [Partial] = []
    private var buffers: [UnsafeMutableRawBufferPointer] = []
    private var freeBuffers: [Int] = []
    private var bytesHeld = 0

    init(limits: FragmentReassemblyLimits) {
        self.limits = limits
    }

    /// Frees the buffer pool. The owner calls this from its deinit.
    func deallocate() {
        for buffer in buffers { buffer.deallocate() }
    }

    var nextDeadline: NetInstant? { partials.map(\.deadline).min() }

    /// Drops partial datagrams whose time ran out; returns how many.
    @discardableResult
    mutating func expire(now: NetInstant) -> Int {
        var dropped = 0
        var i = 0
        while i < partials.count {
            if partials[i].deadline <= now {
                discard(at: i)
                dropped += 1
            } else {
                i += 1
            }
        }
        return dropped
    }

    mutating func addIPv4Fragment(_ ip: IPv4Packet, now: NetInstant) -> Outcome {
        let key = Key(
            source: .v4(ip.source), destination: .v4(ip.destination), protocolNumber: ip.protocol.rawValue,
            identification: UInt32(ip.identification))
        return add(
            key: key, offset: ip.fragmentOffset, data: ip.payload, more: ip.moreFragments,
            maximum: Self.maximumPayload - IPv4Header.length, now: now)
    }

    mutating func addIPv6Fragment(_ ip: IPv6Packet, header: IPv6FragmentHeader, now: NetInstant) -> Outcome {
        // The fragment data starts right after the fragment header (RFC 8200 §4.5).
        var dataStart: Int? = nil
        if let base = ip.bytes.baseAddress {
            for element in ip.extensionHeaders where element.kind == .ipv6Fragment {
                if let start = element.bytes.baseAddress {
                    dataStart = (start - base) + element.bytes.count
                }
                break
            }
        }
        guard let dataStart, dataStart <= ip.bytes.count else { return .dropped }
        let data = UnsafeRawBufferPointer(rebasing: ip.bytes[dataStart...])
        let key = Key(
            source: .v6(ip.source), destination: .v6(ip.destination), protocolNumber: header.nextHeader.rawValue,
            identification: header.identification)
        return add(
            key: key, offset: header.fragmentOffset, data: data, more: header.moreFragments,
            maximum: Self.maximumPayload, now: now)
    }

    private mutating func add(
        key: Key, offset: Int, data: UnsafeRawBufferPointer, more: Bool, maximum: Int, now: NetInstant
    ) -> Outcome {
        let end = offset + data.count
        // RFC 791 §3.2 / RFC 8200 §4.5: all but the last fragment carry a multiple of 8 bytes; nothing may
        // extend past the largest datagram.
        guard data.count > 0, !more || data.count % 8 == 0, end <= maximum else { return .dropped }
        var index = partials.firstIndex { $0.key == key }
        if index == nil {
            guard limits.maximumDatagrams > 0 else { return .dropped }
            if partials.count >= limits.maximumDatagrams {
                // Evict the oldest partial datagram.
                if let oldest = partials.indices.min(by: { partials[$0].deadline < partials[$1].deadline }) {
                    discard(at: oldest)
                }
            }
            guard let buffer = takeBuffer() else { return .dropped }
            partials.append(Partial(
                key: key, buffer: buffer, ranges: SegmentAssembler(maxRanges: Self.maximumHoles),
                totalLength: nil, deadline: now + limits.timeout))
            index = partials.count - 1
        }
        guard let i = index else { return .dropped }
        if !more {
            if let total = partials[i].totalLength, total != end {
                discard(at: i)
                return .dropped
            }
            if partials[i].ranges.highestEnd > end {
                discard(at: i)
                return .dropped
            }
            partials[i].totalLength = end
        } else if let total = partials[i].totalLength, end > total {
            discard(at: i)
            return .dropped
        }
        // RFC 5722: overlapping fragments invalidate the datagram.
        guard !partials[i].ranges.overlaps(start: offset, end: end),
            bytesHeld + data.count <= limits.maximumBytes,
            partials[i].ranges.add(start: offset, end: end)
        else {
            discard(at: i)
            return .dropped
        }
        if let source = data.baseAddress {
            (buffers[partials[i].buffer].baseAddress! + offset).copyMemory(from: source, byteCount: data.count)
        }
        partials[i].bytes += data.count
        bytesHeld += data.count
        guard let total = partials[i].totalLength, partials[i].ranges.covers(length: total) else { return .incomplete }
        let partial = partials.remove(at: i)
        bytesHeld -= partial.bytes
        return .complete(ReassembledDatagram(buffer: partial.buffer, length: total, storage: buffers[partial.buffer]))
    }

    /// Returns a complete datagram's buffer to the pool.
    mutating func release(_ datagram: ReassembledDatagram) {
        freeBuffers.append(datagram.buffer)
    }

    private mutating func takeBuffer() -> Int? {
        if let free = freeBuffers.popLast() { return free }
        guard buffers.count < limits.maximumDatagrams + 1 else { return nil }
        buffers.append(UnsafeMutableRawBufferPointer.allocate(byteCount: Self.maximumPayload, alignment: 16))
        return buffers.count - 1
    }

    private mutating func discard(at index: Int) {
        let partial = partials.remove(at: index)
        bytesHeld -= partial.bytes
        freeBuffers.append(partial.buffer)
    }
}
