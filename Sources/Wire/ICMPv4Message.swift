/// An ICMPv4 message type (RFC 792, IANA "ICMP Type Numbers").
public struct ICMPv4Type: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The type with this number.
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    public static let echoReply = ICMPv4Type(0)
    public static let destinationUnreachable = ICMPv4Type(3)
    public static let redirect = ICMPv4Type(5)
    public static let echoRequest = ICMPv4Type(8)
    public static let timeExceeded = ICMPv4Type(11)
    public static let parameterProblem = ICMPv4Type(12)

    /// True for the error messages that quote the invoking packet (RFC 1122 §3.2.2).
    public var isError: Bool {
        self == .destinationUnreachable || self == .redirect || self == .timeExceeded || self == .parameterProblem
    }

    public var description: String {
        switch self {
        case .echoReply: return "echo-reply"
        case .destinationUnreachable: return "destination-unreachable"
        case .redirect: return "redirect"
        case .echoRequest: return "echo-request"
        case .timeExceeded: return "time-exceeded"
        case .parameterProblem: return "parameter-problem"
        default: return "icmp-type-\(rawValue)"
        }
    }
}

/// A validated, read-only view of an ICMPv4 message (RFC 792) in a caller-owned buffer.
///
/// Every ICMPv4 message defined by RFC 792 starts with the same 8 bytes (type, code, checksum and
/// four type-specific bytes); `init(validating:)` checks that much. The type-specific accessors
/// read those four bytes as the type defines them: ``identifier`` and ``sequenceNumber`` for echo,
/// ``nextHopMTU`` for "fragmentation needed" (RFC 1191 §4), ``pointer`` for parameter problem.
/// For error messages ``invokingPacket`` is the quoted original datagram (its IP header and at
/// least 8 bytes of its payload, RFC 792), which can itself be parsed with ``IPv4Packet``
/// (expect it to be truncated).
///
/// ```
/// |     Type      |     Code      |          Checksum             |
/// |   Identifier / unused / pointer / next-hop MTU (4 bytes)      |
/// |   Echo data / invoking packet ...                             |
/// ```
public struct ICMPv4Message {
    /// The whole message.
    public let bytes: UnsafeRawBufferPointer

    /// The common header length (RFC 792).
    public static let headerLength = 8

    /// Validates the 8-byte header. Throws ``WireError/truncated(_:needed:available:)`` if shorter.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= ICMPv4Message.headerLength else {
            throw .truncated(.icmpv4, needed: ICMPv4Message.headerLength, available: bytes.count)
        }
        self.bytes = bytes
    }

    /// The message type.
    public var type: ICMPv4Type { ICMPv4Type(bytes.byte(0)) }
    /// The code, whose meaning depends on ``type``.
    public var code: UInt8 { bytes.byte(1) }
    /// The checksum field as sent.
    public var checksum: UInt16 { bytes.bigEndianUInt16(2) }
    /// Echo identifier (echo request/reply, RFC 792).
    public var identifier: UInt16 { bytes.bigEndianUInt16(4) }
    /// Echo sequence number (echo request/reply, RFC 792).
    public var sequenceNumber: UInt16 { bytes.bigEndianUInt16(6) }
    /// Next-hop MTU of a "fragmentation needed" message (type 3 code 4, RFC 1191 §4); 0 from old routers.
    public var nextHopMTU: UInt16 { bytes.bigEndianUInt16(6) }
    /// Octet offset of the problem in a parameter-problem message (RFC 792).
    public var pointer: UInt8 { bytes.byte(4) }
    /// The four type-specific header bytes as one big-endian word.
    public var restOfHeader: UInt32 { bytes.bigEndianUInt32(4) }
    /// Everything after the 8-byte header: echo data, or the invoking packet of an error.
    public var body: UnsafeRawBufferPointer { bytes.slice(from: ICMPv4Message.headerLength) }
    /// Echo data (echo request/reply).
    public var data: UnsafeRawBufferPointer { body }
    /// The quoted original datagram of an error message (RFC 792, RFC 1812 §4.3.2.3).
    public var invokingPacket: UnsafeRawBufferPointer { body }

    /// True when the checksum over the whole message verifies (RFC 792; no pseudo-header).
    public var isChecksumValid: Bool {
        var sum = Checksum()
        sum.add(bytes)
        return sum.isValid
    }

    /// Throws ``WireError/badChecksum(_:)`` unless ``isChecksumValid``.
    public func verifyChecksum() throws(WireError) {
        guard isChecksumValid else { throw .badChecksum(.icmpv4) }
    }
}
