/// The fields of an IPv4 header (RFC 791 §3.1), to build one or to hold one parsed from an
/// ``IPv4Packet``. The builder writes a 20-byte header without options.
///
/// ```swift
/// let header = IPv4Header(source: a, destination: b, protocol: .udp, payloadLength: 8 + data.count)
/// try header.emit(into: buffer)   // writes buffer[0..<20], header checksum included
/// ```
public struct IPv4Header: Hashable, Sendable {
    /// Source address.
    public var source: IPv4Address
    /// Destination address.
    public var destination: IPv4Address
    /// The payload's protocol.
    public var `protocol`: IPProtocol
    /// Bytes after the header; the total length field is `20 + payloadLength`.
    public var payloadLength: Int
    /// Time to live.
    public var timeToLive: UInt8
    /// Differentiated Services code point, 0...63 (RFC 2474).
    public var dscp: UInt8
    /// ECN bits, 0...3 (RFC 3168).
    public var ecn: UInt8
    /// Identification (RFC 791 §3.2; RFC 6864 for atomic datagrams).
    public var identification: UInt16
    /// The Don't Fragment flag.
    public var dontFragment: Bool
    /// The More Fragments flag.
    public var moreFragments: Bool
    /// Fragment offset in bytes; a multiple of 8 up to 65528.
    public var fragmentOffset: Int

    /// The header length this builder writes (no options).
    public static let length = 20
    /// The default TTL, 64 (RFC 1700 / IANA "Default TTL", as Linux uses).
    public static let defaultTimeToLive: UInt8 = 64

    /// A header with the given fields; the defaults suit an unfragmented packet.
    public init(
        source: IPv4Address, destination: IPv4Address, protocol: IPProtocol, payloadLength: Int,
        timeToLive: UInt8 = IPv4Header.defaultTimeToLive, dscp: UInt8 = 0, ecn: UInt8 = 0,
        identification: UInt16 = 0, dontFragment: Bool = false, moreFragments: Bool = false,
        fragmentOffset: Int = 0
    ) {
        self.source = source
        self.destination = destination
        self.protocol = `protocol`
        self.payloadLength = payloadLength
        self.timeToLive = timeToLive
        self.dscp = dscp
        self.ecn = ecn
        self.identification = identification
        self.dontFragment = dontFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset
    }

    /// The fields of a parsed packet (options are dropped; the payload length is the packet's).
    public init(_ packet: IPv4Packet) {
        self.init(
            source: packet.source, destination: packet.destination, protocol: packet.protocol,
            payloadLength: packet.totalLength - packet.headerLength, timeToLive: packet.timeToLive,
            dscp: packet.dscp, ecn: packet.ecn, identification: packet.identification,
            dontFragment: packet.dontFragment, moreFragments: packet.moreFragments,
            fragmentOffset: packet.fragmentOffset)
    }

    /// Header plus payload length, the total length field.
    public var totalLength: Int { IPv4Header.length + payloadLength }

    /// Writes the 20-byte header at the start of `buffer` and fills the header checksum.
    /// The payload is not touched (write it at `buffer[20...]` before or after).
    /// - Throws: ``WireError/bufferTooSmall(_:needed:available:)`` or
    ///   ``WireError/fieldOutOfRange(_:field:value:maximum:)`` for a length, offset, DSCP or ECN
    ///   the header cannot carry.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard buffer.count >= IPv4Header.length else {
            throw .bufferTooSmall(.ipv4, needed: IPv4Header.length, available: buffer.count)
        }
        guard payloadLength >= 0, totalLength <= 0xFFFF else {
            throw .fieldOutOfRange(.ipv4, field: "payloadLength", value: payloadLength, maximum: 0xFFFF - IPv4Header.length)
        }
        guard fragmentOffset >= 0, fragmentOffset & 7 == 0, fragmentOffset <= 0x1FFF * 8 else {
            throw .fieldOutOfRange(.ipv4, field: "fragmentOffset", value: fragmentOffset, maximum: 0x1FFF * 8)
        }
        guard dscp < 64 else { throw .fieldOutOfRange(.ipv4, field: "dscp", value: Int(dscp), maximum: 63) }
        guard ecn < 4 else { throw .fieldOutOfRange(.ipv4, field: "ecn", value: Int(ecn), maximum: 3) }
        buffer.storeByte(0x45, at: 0)
        buffer.storeByte(dscp << 2 | ecn, at: 1)
        buffer.storeBigEndian(UInt16(totalLength), at: 2)
        buffer.storeBigEndian(identification, at: 4)
        var flagsAndOffset = UInt16(fragmentOffset / 8)
        if dontFragment { flagsAndOffset |= 0x4000 }
        if moreFragments { flagsAndOffset |= 0x2000 }
        buffer.storeBigEndian(flagsAndOffset, at: 6)
        buffer.storeByte(timeToLive, at: 8)
        buffer.storeByte(`protocol`.rawValue, at: 9)
        buffer.storeBigEndian(UInt16(0), at: 10)
        buffer.store(source, at: 12)
        buffer.store(destination, at: 16)
        let checksum = Checksum.compute(UnsafeRawBufferPointer(rebasing: buffer.readOnly[0..<IPv4Header.length]))
        buffer.storeBigEndian(checksum, at: 10)
    }
}
