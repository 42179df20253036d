/// An ICMPv6 message type (RFC 4443 §2.1, IANA "ICMPv6 Parameters").
public struct ICMPv6Type: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The type with this number.
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    public static let destinationUnreachable = ICMPv6Type(1)
    public static let packetTooBig = ICMPv6Type(2)
    public static let timeExceeded = ICMPv6Type(3)
    public static let parameterProblem = ICMPv6Type(4)
    public static let echoRequest = ICMPv6Type(128)
    public static let echoReply = ICMPv6Type(129)
    /// Neighbor Discovery (RFC 4861 §4); not interpreted by this module.
    public static let routerSolicitation = ICMPv6Type(133)
    public static let routerAdvertisement = ICMPv6Type(134)
    public static let neighborSolicitation = ICMPv6Type(135)
    public static let neighborAdvertisement = ICMPv6Type(136)

    /// Error messages have the high bit clear (RFC 4443 §2.1).
    public var isError: Bool { rawValue < 128 }

    public var description: String {
        switch self {
        case .destinationUnreachable: return "destination-unreachable"
        case .packetTooBig: return "packet-too-big"
        case .timeExceeded: return "time-exceeded"
        case .parameterProblem: return "parameter-problem"
        case .echoRequest: return "echo-request"
        case .echoReply: return "echo-reply"
        default: return "icmpv6-type-\(rawValue)"
        }
    }
}

/// A validated, read-only view of an ICMPv6 message (RFC 4443) in a caller-owned buffer.
///
/// `init(validating:)` checks the 8 bytes every RFC 4443 message has. Type-specific accessors read
/// the four bytes after the checksum as that type defines them: ``identifier``/``sequenceNumber``
/// (echo, §4.1), ``mtu`` (packet too big, §3.2), ``pointer`` (parameter problem, §3.4). For errors,
/// ``invokingPacket`` is the quoted packet, parseable with ``IPv6Packet`` (often truncated).
/// The checksum covers the IPv6 pseudo-header (§2.3), so it is verified with the addresses.
public struct ICMPv6Message {
    /// The whole message.
    public let bytes: UnsafeRawBufferPointer

    /// The common header length (RFC 4443 §2.1 plus the 4-byte type-specific word all types have).
    public static let headerLength = 8

    /// Validates the 8-byte header. Throws ``WireError/truncated(_:needed:available:)`` if shorter.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= ICMPv6Message.headerLength else {
            throw .truncated(.icmpv6, needed: ICMPv6Message.headerLength, available: bytes.count)
        }
        self.bytes = bytes
    }

    /// The message type.
    public var type: ICMPv6Type { ICMPv6Type(bytes.byte(0)) }
    /// The code, whose meaning depends on ``type``.
    public var code: UInt8 { bytes.byte(1) }
    /// The checksum field as sent.
    public var checksum: UInt16 { bytes.bigEndianUInt16(2) }
    /// Echo identifier (RFC 4443 §4.1).
    public var identifier: UInt16 { bytes.bigEndianUInt16(4) }
    /// Echo sequence number (RFC 4443 §4.1).
    public var sequenceNumber: UInt16 { bytes.bigEndianUInt16(6) }
    /// MTU of the next-hop link in a packet-too-big message (RFC 4443 §3.2).
    public var mtu: UInt32 { bytes.bigEndianUInt32(4) }
    /// Octet offset of the problem in a parameter-problem message (RFC 4443 §3.4).
    public var pointer: UInt32 { bytes.bigEndianUInt32(4) }
    /// The four type-specific header bytes as one big-endian word.
    public var restOfHeader: UInt32 { bytes.bigEndianUInt32(4) }
    /// Everything after the 8-byte header.
    public var body: UnsafeRawBufferPointer { bytes.slice(from: ICMPv6Message.headerLength) }
    /// Echo data.
    public var data: UnsafeRawBufferPointer { body }
    /// The quoted invoking packet of an error message (RFC 4443 §3).
    public var invokingPacket: UnsafeRawBufferPointer { body }

    /// True when the checksum verifies with the IPv6 pseudo-header (RFC 4443 §2.3).
    public func isChecksumValid(source: IPv6Address, destination: IPv6Address) -> Bool {
        var sum = Checksum.pseudoHeader(source: source, destination: destination, protocol: .icmpv6, length: bytes.count)
        sum.add(bytes)
        return sum.isValid
    }

    /// Throws ``WireError/badChecksum(_:)`` unless the checksum verifies.
    public func verifyChecksum(source: IPv6Address, destination: IPv6Address) throws(WireError) {
        guard isChecksumValid(source: source, destination: destination) else { throw .badChecksum(.icmpv6) }
    }
}
