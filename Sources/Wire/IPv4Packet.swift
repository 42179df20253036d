/// A validated, read-only view of an IPv4 packet (RFC 791 §3.1) in a caller-owned buffer.
///
/// `init(validating:)` checks the version, the header length (IHL) and the total length once;
/// afterwards every accessor is a plain load that cannot trap. The view does not copy: ``payload``
/// and ``options`` point into the same buffer, so the buffer must outlive the view.
///
/// Bytes past the total length (link-layer padding) are ignored: ``bytes`` covers exactly
/// ``totalLength`` bytes. Options are skipped, not interpreted. Fragments are recognised
/// (``isFragment``) but not reassembled. The header checksum is checked only on request
/// (``isHeaderChecksumValid``), so a caller can skip it when a lower layer already authenticated the
/// packet (WireGuard's AEAD).
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// |Version|  IHL  |    DSCP   |ECN|          Total Length         |
/// |         Identification        |Flags|     Fragment Offset     |
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// |                       Source Address                          |
/// |                    Destination Address                        |
/// |                    Options (IHL > 5)                          |
/// ```
public struct IPv4Packet {
    /// The packet: header, options and payload, exactly ``totalLength`` bytes.
    public let bytes: UnsafeRawBufferPointer

    /// The fixed header length, IHL = 5 (RFC 791 §3.1).
    public static let minimumHeaderLength = 20
    /// The largest header, IHL = 15 (RFC 791 §3.1).
    public static let maximumHeaderLength = 60

    /// Validates the header of the packet at the start of `bytes`.
    /// - Throws: ``WireError/truncated(_:needed:available:)`` when the buffer is shorter than the
    ///   header or the total length, ``WireError/unsupportedVersion(_:found:)`` unless the version
    ///   is 4, ``WireError/badHeaderLength(_:headerLength:minimum:)`` for IHL < 5, and
    ///   ``WireError/badTotalLength(_:declared:minimum:)`` when the total length is below the header length.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= IPv4Packet.minimumHeaderLength else {
            throw .truncated(.ipv4, needed: IPv4Packet.minimumHeaderLength, available: bytes.count)
        }
        let first = bytes.byte(0)
        guard first >> 4 == 4 else { throw .unsupportedVersion(.ipv4, found: first >> 4) }
        let headerLength = Int(first & 0x0F) * 4
        guard headerLength >= IPv4Packet.minimumHeaderLength else {
            throw .badHeaderLength(.ipv4, headerLength: headerLength, minimum: IPv4Packet.minimumHeaderLength)
        }
        guard headerLength <= bytes.count else {
            throw .truncated(.ipv4, needed: headerLength, available: bytes.count)
        }
        let totalLength = Int(bytes.bigEndianUInt16(2))
        guard totalLength >= headerLength else {
            throw .badTotalLength(.ipv4, declared: totalLength, minimum: headerLength)
        }
        guard totalLength <= bytes.count else {
            throw .truncated(.ipv4, needed: totalLength, available: bytes.count)
        }
        self.bytes = bytes.slice(0, totalLength)
    }

    /// Wraps bytes already validated by `init(validating:)` (used by ``MutableIPv4Packet``).
    init(alreadyValidated bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Always 4.
    public var version: UInt8 { bytes.byte(0) >> 4 }
    /// Header length in bytes, options included (IHL × 4): 20...60.
    public var headerLength: Int { Int(bytes.byte(0) & 0x0F) * 4 }
    /// Differentiated Services code point (RFC 2474 §3).
    public var dscp: UInt8 { bytes.byte(1) >> 2 }
    /// Explicit Congestion Notification bits (RFC 3168 §5).
    public var ecn: UInt8 { bytes.byte(1) & 0x03 }
    /// Total length of header and payload in bytes.
    public var totalLength: Int { bytes.count }
    /// Identification, used to group fragments (RFC 791 §3.2, RFC 6864).
    public var identification: UInt16 { bytes.bigEndianUInt16(4) }
    /// The Don't Fragment flag (RFC 791 §3.1, flags bit 1).
    public var dontFragment: Bool { bytes.byte(6) & 0x40 != 0 }
    /// The More Fragments flag (RFC 791 §3.1, flags bit 2).
    public var moreFragments: Bool { bytes.byte(6) & 0x20 != 0 }
    /// The reserved flag bit (must be zero, RFC 791 §3.1).
    public var reservedFlag: Bool { bytes.byte(6) & 0x80 != 0 }
    /// The fragment offset in bytes (the field counts 8-byte units, RFC 791 §3.1).
    public var fragmentOffset: Int { Int(bytes.bigEndianUInt16(6) & 0x1FFF) * 8 }
    /// True for any fragment of a fragmented datagram: MF set or a non-zero offset.
    public var isFragment: Bool { moreFragments || fragmentOffset != 0 }
    /// Time to live.
    public var timeToLive: UInt8 { bytes.byte(8) }
    /// The payload's protocol.
    public var `protocol`: IPProtocol { IPProtocol(bytes.byte(9)) }
    /// The header checksum field as sent.
    public var headerChecksum: UInt16 { bytes.bigEndianUInt16(10) }
    /// Source address.
    public var source: IPv4Address { bytes.ipv4Address(12) }
    /// Destination address.
    public var destination: IPv4Address { bytes.ipv4Address(16) }

    /// The header, options included.
    public var header: UnsafeRawBufferPointer { bytes.slice(0, headerLength) }
    /// The options area (empty when IHL = 5); not interpreted.
    public var options: UnsafeRawBufferPointer { bytes.slice(IPv4Packet.minimumHeaderLength, headerLength) }
    /// The payload: `totalLength - headerLength` bytes after the header.
    public var payload: UnsafeRawBufferPointer { bytes.slice(from: headerLength) }

    /// True when the header checksum verifies (RFC 791 §3.1, RFC 1071).
    public var isHeaderChecksumValid: Bool {
        var sum = Checksum()
        sum.add(header)
        return sum.isValid
    }

    /// Throws ``WireError/badChecksum(_:)`` unless the header checksum verifies.
    public func verifyHeaderChecksum() throws(WireError) {
        guard isHeaderChecksumValid else { throw .badChecksum(.ipv4) }
    }
}
