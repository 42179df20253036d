/// A validated, read-only view of a UDP datagram (RFC 768) in a caller-owned buffer.
///
/// `init(validating:)` checks the length field once: at least the 8-byte header and no more than the
/// buffer. ``bytes`` is trimmed to that length, so ``payload`` is exactly the datagram's data.
/// The checksum needs the IP addresses, so it is verified separately (``isChecksumValid(source:destination:)-(IPv4Address,_)``).
///
/// ```
/// |          Source Port          |       Destination Port        |
/// |            Length             |           Checksum            |
/// ```
public struct UDPDatagram {
    /// Header and payload, exactly ``length`` bytes.
    public let bytes: UnsafeRawBufferPointer

    /// The UDP header length (RFC 768).
    public static let headerLength = 8

    /// Validates the datagram at the start of `bytes` (usually an IP payload).
    /// - Throws: ``WireError/truncated(_:needed:available:)`` when the buffer is shorter than the
    ///   header or the length field, ``WireError/badTotalLength(_:declared:minimum:)`` when the
    ///   length field is below 8 (a zero length, RFC 2675 jumbograms, is not supported).
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= UDPDatagram.headerLength else {
            throw .truncated(.udp, needed: UDPDatagram.headerLength, available: bytes.count)
        }
        let length = Int(bytes.bigEndianUInt16(4))
        guard length >= UDPDatagram.headerLength else {
            throw .badTotalLength(.udp, declared: length, minimum: UDPDatagram.headerLength)
        }
        guard length <= bytes.count else { throw .truncated(.udp, needed: length, available: bytes.count) }
        self.bytes = bytes.slice(0, length)
    }

    /// Source port (0 when unused, RFC 768).
    public var sourcePort: UInt16 { bytes.bigEndianUInt16(0) }
    /// Destination port.
    public var destinationPort: UInt16 { bytes.bigEndianUInt16(2) }
    /// The length field: header plus payload.
    public var length: Int { bytes.count }
    /// The checksum field; zero means "not computed" over IPv4 (RFC 768).
    public var checksum: UInt16 { bytes.bigEndianUInt16(6) }
    /// The data after the header.
    public var payload: UnsafeRawBufferPointer { bytes.slice(from: UDPDatagram.headerLength) }

    /// True when the checksum verifies with the IPv4 pseudo-header, or is zero (not computed, RFC 768).
    public func isChecksumValid(source: IPv4Address, destination: IPv4Address) -> Bool {
        if checksum == 0 { return true }
        var sum = Checksum.pseudoHeader(source: source, destination: destination, protocol: .udp, length: length)
        sum.add(bytes)
        return sum.isValid
    }

    /// True when the checksum verifies with the IPv6 pseudo-header. Over IPv6 a zero checksum is
    /// invalid (RFC 8200 §8.1).
    public func isChecksumValid(source: IPv6Address, destination: IPv6Address) -> Bool {
        if checksum == 0 { return false }
        var sum = Checksum.pseudoHeader(source: source, destination: destination, protocol: .udp, length: length)
        sum.add(bytes)
        return sum.isValid
    }

    /// Throws ``WireError/badChecksum(_:)`` unless ``isChecksumValid(source:destination:)-(IPv4Address,_)`` holds.
    public func verifyChecksum(source: IPv4Address, destination: IPv4Address) throws(WireError) {
        guard isChecksumValid(source: source, destination: destination) else { throw .badChecksum(.udp) }
    }

    /// Throws ``WireError/badChecksum(_:)`` unless ``isChecksumValid(source:destination:)-(IPv6Address,_)`` holds.
    public func verifyChecksum(source: IPv6Address, destination: IPv6Address) throws(WireError) {
        guard isChecksumValid(source: source, destination: destination) else { throw .badChecksum(.udp) }
    }
}
