/// A validated, read-only view of a TCP segment (RFC 9293 §3.1) in a caller-owned buffer.
///
/// TCP has no length field: the segment is the whole buffer (pass the IP payload). `init(validating:)`
/// checks the data offset and parses the options once (``options``); malformed options are an error
/// there, so every accessor afterwards is a plain load.
///
/// ```
/// |          Source Port          |       Destination Port        |
/// |                        Sequence Number                        |
/// |                    Acknowledgment Number                      |
/// |  Data |     |A|C|E|U|A|P|R|S|F|                               |
/// | Offset| Rsrv|E|W|C|R|C|S|S|Y|I|            Window             |
/// |           Checksum            |         Urgent Pointer        |
/// |                    Options (data offset > 5)                  |
/// ```
public struct TCPSegment {
    /// Header, options and payload.
    public let bytes: UnsafeRawBufferPointer
    /// The parsed options.
    public let options: TCPOptions

    /// The fixed header length (data offset 5, RFC 9293 §3.1).
    public static let minimumHeaderLength = 20
    /// The largest header (data offset 15).
    public static let maximumHeaderLength = 60

    /// Validates the segment that fills `bytes`.
    /// - Throws: ``WireError/truncated(_:needed:available:)`` when the buffer is shorter than the
    ///   header, ``WireError/badHeaderLength(_:headerLength:minimum:)`` for a data offset below 5,
    ///   ``WireError/malformedOption(_:kind:offset:)`` for a bad option.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= TCPSegment.minimumHeaderLength else {
            throw .truncated(.tcp, needed: TCPSegment.minimumHeaderLength, available: bytes.count)
        }
        let headerLength = Int(bytes.byte(12) >> 4) * 4
        guard headerLength >= TCPSegment.minimumHeaderLength else {
            throw .badHeaderLength(.tcp, headerLength: headerLength, minimum: TCPSegment.minimumHeaderLength)
        }
        guard headerLength <= bytes.count else {
            throw .truncated(.tcp, needed: headerLength, available: bytes.count)
        }
        self.options = try TCPOptions(parsing: bytes.slice(TCPSegment.minimumHeaderLength, headerLength))
        self.bytes = bytes
    }

    /// Source port.
    public var sourcePort: UInt16 { bytes.bigEndianUInt16(0) }
    /// Destination port.
    public var destinationPort: UInt16 { bytes.bigEndianUInt16(2) }
    /// Sequence number of the first data byte (or of the SYN).
    public var sequenceNumber: UInt32 { bytes.bigEndianUInt32(4) }
    /// The acknowledgment number (meaningful when ``flags`` contains ``TCPFlags/ack``).
    public var acknowledgmentNumber: UInt32 { bytes.bigEndianUInt32(8) }
    /// Header length in bytes, options included (data offset × 4): 20...60.
    public var headerLength: Int { Int(bytes.byte(12) >> 4) * 4 }
    /// The control bits.
    public var flags: TCPFlags { TCPFlags(rawValue: bytes.bigEndianUInt16(12) & 0x1FF) }
    /// The receive window, unscaled as on the wire.
    public var window: UInt16 { bytes.bigEndianUInt16(14) }
    /// The checksum field as sent.
    public var checksum: UInt16 { bytes.bigEndianUInt16(16) }
    /// Urgent pointer (RFC 9293 §3.8.5).
    public var urgentPointer: UInt16 { bytes.bigEndianUInt16(18) }
    /// The raw option area.
    public var optionBytes: UnsafeRawBufferPointer { bytes.slice(TCPSegment.minimumHeaderLength, headerLength) }
    /// The data after the header.
    public var payload: UnsafeRawBufferPointer { bytes.slice(from: headerLength) }
    /// Sequence space the segment occupies: data plus one each for SYN and FIN (RFC 9293 §3.4).
    public var sequenceLength: Int {
        let flags = flags
        return payload.count + (flags.contains(.syn) ? 1 : 0) + (flags.contains(.fin) ? 1 : 0)
    }

    /// True when the checksum verifies with the IPv4 pseudo-header (RFC 9293 §3.1).
    public func isChecksumValid(source: IPv4Address, destination: IPv4Address) -> Bool {
        var sum = Checksum.pseudoHeader(source: source, destination: destination, protocol: .tcp, length: bytes.count)
        sum.add(bytes)
        return sum.isValid
    }

    /// True when the checksum verifies with the IPv6 pseudo-header (RFC 8200 §8.1).
    public func isChecksumValid(source: IPv6Address, destination: IPv6Address) -> Bool {
        var sum = Checksum.pseudoHeader(source: source, destination: destination, protocol: .tcp, length: bytes.count)
        sum.add(bytes)
        return sum.isValid
    }

    /// Throws ``WireError/badChecksum(_:)`` unless the checksum verifies over IPv4.
    public func verifyChecksum(source: IPv4Address, destination: IPv4Address) throws(WireError) {
        guard isChecksumValid(source: source, destination: destination) else { throw .badChecksum(.tcp) }
    }

    /// Throws ``WireError/badChecksum(_:)`` unless the checksum verifies over IPv6.
    public func verifyChecksum(source: IPv6Address, destination: IPv6Address) throws(WireError) {
        guard isChecksumValid(source: source, destination: destination) else { throw .badChecksum(.tcp) }
    }
}
