/// The fields of the fixed IPv6 header (RFC 8200 §3), to build one or to hold one parsed from an
/// ``IPv6Packet``. The builder writes the 40-byte fixed header; extension headers, if any, are the
/// caller's (see ``IPv6FragmentHeader``).
public struct IPv6Header: Hashable, Sendable {
    /// Source address.
    public var source: IPv6Address
    /// Destination address.
    public var destination: IPv6Address
    /// The first header after the fixed header (extension header or upper layer).
    public var nextHeader: IPProtocol
    /// Bytes after the fixed header, extension headers included; at most 65535.
    public var payloadLength: Int
    /// Hop limit.
    public var hopLimit: UInt8
    /// Traffic class: DSCP << 2 | ECN (RFC 8200 §7).
    public var trafficClass: UInt8
    /// Flow label, 20 bits (RFC 6437).
    public var flowLabel: UInt32

    /// The fixed header length.
    public static let length = 40
    /// The default hop limit, 64 (IANA default, as Linux uses).
    public static let defaultHopLimit: UInt8 = 64

    /// A header with the given fields.
    public init(
        source: IPv6Address, destination: IPv6Address, nextHeader: IPProtocol, payloadLength: Int,
        hopLimit: UInt8 = IPv6Header.defaultHopLimit, trafficClass: UInt8 = 0, flowLabel: UInt32 = 0
    ) {
        self.source = source
        self.destination = destination
        self.nextHeader = nextHeader
        self.payloadLength = payloadLength
        self.hopLimit = hopLimit
        self.trafficClass = trafficClass
        self.flowLabel = flowLabel
    }

    /// The fixed-header fields of a parsed packet.
    public init(_ packet: IPv6Packet) {
        self.init(
            source: packet.source, destination: packet.destination, nextHeader: packet.nextHeader,
            payloadLength: packet.payloadLength, hopLimit: packet.hopLimit,
            trafficClass: packet.trafficClass, flowLabel: packet.flowLabel)
    }

    /// Writes the 40-byte fixed header at the start of `buffer`.
    /// - Throws: ``WireError/bufferTooSmall(_:needed:available:)`` or
    ///   ``WireError/fieldOutOfRange(_:field:value:maximum:)`` for a payload length over 65535 or a
    ///   flow label over 20 bits.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard buffer.count >= IPv6Header.length else {
            throw .bufferTooSmall(.ipv6, needed: IPv6Header.length, available: buffer.count)
        }
        guard payloadLength >= 0, payloadLength <= 0xFFFF else {
            throw .fieldOutOfRange(.ipv6, field: "payloadLength", value: payloadLength, maximum: 0xFFFF)
        }
        guard flowLabel <= 0xF_FFFF else {
            throw .fieldOutOfRange(.ipv6, field: "flowLabel", value: Int(flowLabel), maximum: 0xF_FFFF)
        }
        buffer.storeBigEndian(6 << 28 | UInt32(trafficClass) << 20 | flowLabel, at: 0)
        buffer.storeBigEndian(UInt16(payloadLength), at: 4)
        buffer.storeByte(nextHeader.rawValue, at: 6)
        buffer.storeByte(hopLimit, at: 7)
        buffer.store(source, at: 8)
        buffer.store(destination, at: 24)
    }
}

/// The IPv6 Fragment extension header (RFC 8200 §4.5): parsed from a packet's chain
/// (``IPv6Packet/fragmentHeader``) or built to fragment one.
///
/// ```
/// |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
/// |                         Identification                        |
/// ```
public struct IPv6FragmentHeader: Hashable, Sendable {
    /// The header that follows (in the first fragment) or that the reassembled payload starts with.
    public var nextHeader: IPProtocol
    /// Offset of this fragment's data in bytes (the field counts 8-byte units).
    public var fragmentOffset: Int
    /// The M flag: more fragments follow.
    public var moreFragments: Bool
    /// Identification shared by the fragments of one packet.
    public var identification: UInt32

    /// The header's fixed length.
    public static let length = 8

    /// A fragment header with the given fields.
    public init(nextHeader: IPProtocol, fragmentOffset: Int, moreFragments: Bool, identification: UInt32) {
        self.nextHeader = nextHeader
        self.fragmentOffset = fragmentOffset
        self.moreFragments = moreFragments
        self.identification = identification
    }

    /// Reads the eight bytes of a fragment header; the caller checked the length.
    init(_ bytes: UnsafeRawBufferPointer) {
        let offsetAndFlags = bytes.bigEndianUInt16(2)
        self.init(
            nextHeader: IPProtocol(bytes.byte(0)), fragmentOffset: Int(offsetAndFlags >> 3) * 8,
            moreFragments: offsetAndFlags & 1 != 0, identification: bytes.bigEndianUInt32(4))
    }

    /// True for an atomic fragment (offset 0, M clear; RFC 6946): a whole packet carrying the header.
    public var isAtomic: Bool { fragmentOffset == 0 && !moreFragments }

    /// Writes the 8-byte header at the start of `buffer`.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard buffer.count >= IPv6FragmentHeader.length else {
            throw .bufferTooSmall(.ipv6ExtensionHeader, needed: IPv6FragmentHeader.length, available: buffer.count)
        }
        guard fragmentOffset >= 0, fragmentOffset & 7 == 0, fragmentOffset <= 0x1FFF * 8 else {
            throw .fieldOutOfRange(.ipv6ExtensionHeader, field: "fragmentOffset", value: fragmentOffset, maximum: 0x1FFF * 8)
        }
        buffer.storeByte(nextHeader.rawValue, at: 0)
        buffer.storeByte(0, at: 1)
        buffer.storeBigEndian(UInt16(fragmentOffset / 8) << 3 | (moreFragments ? 1 : 0), at: 2)
        buffer.storeBigEndian(identification, at: 4)
    }
}
