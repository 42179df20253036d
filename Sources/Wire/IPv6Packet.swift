/// A validated, read-only view of an IPv6 packet (RFC 8200 §3) whose extension-header chain has
/// been walked to the upper-layer header.
///
/// `init(validating:)` checks the version, the payload length, and every extension header on the
/// way (RFC 8200 §4): hop-by-hop (only first, §4.1), routing, fragment, destination options and
/// authentication header (RFC 4302 §2.2 length rule). Option TLVs inside hop-by-hop and destination
/// options headers are checked so none overruns its header (§4.2). The walk is bounded by
/// ``maximumExtensionHeaders`` and always advances, so a crafted chain can neither loop nor overrun.
///
/// The walk stops at the first upper-layer protocol (TCP, UDP, ICMPv6, ESP, unknown), at No Next
/// Header, or at a fragment header with a non-zero offset (what follows is fragment data, not a
/// header). ``upperLayerProtocol`` and ``payload`` describe where it stopped.
///
/// ```
/// |Version| Traffic Class |           Flow Label                  |
/// |         Payload Length        |  Next Header  |   Hop Limit   |
/// |                Source Address (128 bits)                      |
/// |             Destination Address (128 bits)                    |
/// ```
public struct IPv6Packet {
    /// The packet: fixed header, extension headers and payload, exactly `40 + payloadLength` bytes.
    public let bytes: UnsafeRawBufferPointer
    /// Offset of the upper-layer header (or fragment data) from the start of the packet.
    public let upperLayerOffset: Int
    /// The protocol of ``payload``: the next-header value that ended the walk.
    public let upperLayerProtocol: IPProtocol
    /// The fragment header, if the chain has one (RFC 8200 §4.5).
    public let fragmentHeader: IPv6FragmentHeader?

    /// The fixed header length (RFC 8200 §3).
    public static let headerLength = 40
    /// The most extension headers walked before the packet is rejected. An implementation choice:
    /// RFC 8200 §4.1 lists at most seven kinds in a recommended order, and RFC 7045 §2.1 lets a node
    /// drop packets with excessive chains; Linux and FreeBSD use similar small bounds.
    public static let maximumExtensionHeaders = 8

    /// Validates the fixed header and walks the extension-header chain.
    /// - Throws: ``WireError/truncated(_:needed:available:)``, ``WireError/unsupportedVersion(_:found:)``,
    ///   ``WireError/badPayloadLength(_:declared:available:)`` (payload length zero with a hop-by-hop
    ///   header: a jumbogram, RFC 2675, not supported), ``WireError/misplacedExtensionHeader(_:index:)``,
    ///   ``WireError/tooManyExtensionHeaders(limit:)`` and ``WireError/malformedOption(_:kind:offset:)``.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= IPv6Packet.headerLength else {
            throw .truncated(.ipv6, needed: IPv6Packet.headerLength, available: bytes.count)
        }
        let version = bytes.byte(0) >> 4
        guard version == 6 else { throw .unsupportedVersion(.ipv6, found: version) }
        let payloadLength = Int(bytes.bigEndianUInt16(4))
        var next = IPProtocol(bytes.byte(6))
        if payloadLength == 0 && next == .ipv6HopByHop {
            throw .badPayloadLength(.ipv6, declared: 0, available: bytes.count - IPv6Packet.headerLength)
        }
        guard IPv6Packet.headerLength + payloadLength <= bytes.count else {
            throw .truncated(.ipv6, needed: IPv6Packet.headerLength + payloadLength, available: bytes.count)
        }
        let packet = bytes.slice(0, IPv6Packet.headerLength + payloadLength)
        let end = packet.count
        var offset = IPv6Packet.headerLength
        var index = 0
        var fragment: IPv6FragmentHeader? = nil
        walk: while next.isIPv6ExtensionHeader {
            guard index < IPv6Packet.maximumExtensionHeaders else {
                throw .tooManyExtensionHeaders(limit: IPv6Packet.maximumExtensionHeaders)
            }
            if next == .ipv6HopByHop && index != 0 { throw .misplacedExtensionHeader(next, index: index) }
            // Every extension header is at least 8 bytes (RFC 8200 §4.3–4.6; AH at least 12).
            guard end - offset >= 8 else {
                throw .truncated(.ipv6ExtensionHeader, needed: offset + 8, available: end)
            }
            let following = IPProtocol(packet.byte(offset))
            let length: Int
            switch next {
            case .ipv6Fragment:
                guard fragment == nil else { throw .misplacedExtensionHeader(next, index: index) }
                let header = IPv6FragmentHeader(packet.slice(offset, offset + 8))
                fragment = header
                length = 8
                if header.fragmentOffset != 0 {
                    // Not the first fragment: the rest is fragment data (RFC 8200 §4.5).
                    offset += length
                    next = following
                    break walk
                }
            case .authenticationHeader:
                length = (Int(packet.byte(offset + 1)) + 2) * 4  // RFC 4302 §2.2
            default:
                length = (Int(packet.byte(offset + 1)) + 1) * 8  // RFC 8200 §4.3, §4.4, §4.6
            }
            guard length <= end - offset else {
                throw .truncated(.ipv6ExtensionHeader, needed: offset + length, available: end)
            }
            if next == .ipv6HopByHop || next == .ipv6DestinationOptions {
                try IPv6Packet.validateOptions(packet.slice(offset + 2, offset + length))
            }
            offset += length
            next = following
            index += 1
        }
        self.bytes = packet
        self.upperLayerOffset = offset
        self.upperLayerProtocol = next
        self.fragmentHeader = fragment
    }

    /// Checks the option TLVs of a hop-by-hop or destination options header (RFC 8200 §4.2): Pad1
    /// is a single zero byte; every other option has a length byte and must fit the header.
    static func validateOptions(_ area: UnsafeRawBufferPointer) throws(WireError) {
        var offset = 0
        while offset < area.count {
            let type = area.byte(offset)
            if type == 0 {  // Pad1
                offset += 1
                continue
            }
            guard offset + 2 <= area.count else {
                throw .malformedOption(.ipv6ExtensionHeader, kind: type, offset: offset + 2)
            }
            let length = Int(area.byte(offset + 1))
            guard offset + 2 + length <= area.count else {
                throw .malformedOption(.ipv6ExtensionHeader, kind: type, offset: offset + 2)
            }
            offset += 2 + length
        }
    }

    /// Always 6.
    public var version: UInt8 { bytes.byte(0) >> 4 }
    /// Traffic class (RFC 8200 §7): DSCP in the upper six bits, ECN in the lower two.
    public var trafficClass: UInt8 { UInt8(truncatingIfNeeded: bytes.bigEndianUInt16(0) >> 4) }
    /// Differentiated Services code point (RFC 2474 §3).
    public var dscp: UInt8 { trafficClass >> 2 }
    /// ECN bits (RFC 3168 §5).
    public var ecn: UInt8 { trafficClass & 0x03 }
    /// The 20-bit flow label (RFC 6437).
    public var flowLabel: UInt32 { bytes.bigEndianUInt32(0) & 0x000F_FFFF }
    /// Bytes after the fixed header, extension headers included.
    public var payloadLength: Int { bytes.count - IPv6Packet.headerLength }
    /// The Next Header field of the fixed header (the first extension header or the upper layer).
    public var nextHeader: IPProtocol { IPProtocol(bytes.byte(6)) }
    /// Hop limit.
    public var hopLimit: UInt8 { bytes.byte(7) }
    /// Source address.
    public var source: IPv6Address { bytes.ipv6Address(8) }
    /// Destination address.
    public var destination: IPv6Address { bytes.ipv6Address(24) }

    /// The upper-layer bytes (or fragment data) after the last extension header walked.
    public var payload: UnsafeRawBufferPointer { bytes.slice(from: upperLayerOffset) }
    /// True when the chain has a fragment header (RFC 8200 §4.5), even an atomic one (RFC 6946).
    public var isFragment: Bool { fragmentHeader != nil }
    /// The extension headers between the fixed header and ``payload``, in order.
    public var extensionHeaders: IPv6ExtensionHeaders {
        IPv6ExtensionHeaders(bytes: bytes.slice(0, upperLayerOffset), first: nextHeader)
    }
}

/// The extension headers of a validated ``IPv6Packet``, as a sequence of (protocol, bytes) pairs.
/// Iterating does not allocate; the bounds were checked when the packet was validated.
public struct IPv6ExtensionHeaders: Sequence {
    /// One extension header: its kind and its bytes (next-header byte included).
    public struct Element {
        /// Which extension header this is.
        public let kind: IPProtocol
        /// The whole header, next-header and length bytes included.
        public let bytes: UnsafeRawBufferPointer
    }

    let bytes: UnsafeRawBufferPointer
    let first: IPProtocol

    /// Walks the validated chain.
    public struct Iterator: IteratorProtocol {
        let bytes: UnsafeRawBufferPointer
        var offset = IPv6Packet.headerLength
        var kind: IPProtocol

        public mutating func next() -> Element? {
            guard kind.isIPv6ExtensionHeader, bytes.count - offset >= 8 else { return nil }
            let length: Int
            switch kind {
            case .ipv6Fragment: length = 8
            case .authenticationHeader: length = (Int(bytes.byte(offset + 1)) + 2) * 4
            default: length = (Int(bytes.byte(offset + 1)) + 1) * 8
            }
            guard length <= bytes.count - offset else { return nil }
            let element = Element(kind: kind, bytes: bytes.slice(offset, offset + length))
            kind = IPProtocol(bytes.byte(offset))
            offset += length
            return element
        }
    }

    public func makeIterator() -> Iterator { Iterator(bytes: bytes, kind: first) }
}
