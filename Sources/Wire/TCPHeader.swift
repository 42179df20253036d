/// The fields of a TCP header (RFC 9293 §3.1) with its options, to build one or to hold one parsed
/// from a ``TCPSegment``.
///
/// The builder works in place: the caller writes the payload at offset ``length`` of a buffer that
/// spans exactly header plus payload; `emit` writes header and options and fills the checksum.
///
/// ```swift
/// var header = TCPHeader(sourcePort: 443, destinationPort: 50000, sequenceNumber: iss,
///                        acknowledgmentNumber: 0, flags: .syn, window: 65535)
/// header.options.maximumSegmentSize = 1380
/// try header.emit(into: segment, source: local, destination: remote)
/// ```
public struct TCPHeader: Hashable, Sendable {
    /// Source port.
    public var sourcePort: UInt16
    /// Destination port.
    public var destinationPort: UInt16
    /// Sequence number of the first byte (or of the SYN).
    public var sequenceNumber: UInt32
    /// Next sequence number expected; sent when ``flags`` has ``TCPFlags/ack``.
    public var acknowledgmentNumber: UInt32
    /// Control bits.
    public var flags: TCPFlags
    /// Receive window as sent (already scaled down).
    public var window: UInt16
    /// Urgent pointer (RFC 9293 §3.8.5).
    public var urgentPointer: UInt16
    /// Options; their encoded length sets the data offset.
    public var options: TCPOptions

    /// A header with the given fields.
    public init(
        sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: UInt32, acknowledgmentNumber: UInt32,
        flags: TCPFlags, window: UInt16, urgentPointer: UInt16 = 0, options: TCPOptions = TCPOptions()
    ) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber
        self.flags = flags
        self.window = window
        self.urgentPointer = urgentPointer
        self.options = options
    }

    /// The fields and options of a parsed segment.
    public init(_ segment: TCPSegment) {
        self.init(
            sourcePort: segment.sourcePort, destinationPort: segment.destinationPort,
            sequenceNumber: segment.sequenceNumber, acknowledgmentNumber: segment.acknowledgmentNumber,
            flags: segment.flags, window: segment.window, urgentPointer: segment.urgentPointer,
            options: segment.options)
    }

    /// Header length this builder writes: 20 plus the encoded options (a multiple of 4, at most 60).
    public var length: Int { TCPSegment.minimumHeaderLength + options.encodedLength }

    /// Writes the header into `segment` (header plus payload, payload already at ``length``) with the
    /// checksum over the IPv4 pseudo-header.
    public func emit(into segment: UnsafeMutableRawBufferPointer, source: IPv4Address, destination: IPv4Address) throws(WireError) {
        try emit(into: segment, pseudoHeader: Checksum.pseudoHeader(
            source: source, destination: destination, protocol: .tcp, length: segment.count))
    }

    /// Writes the header into `segment` with the checksum over the IPv6 pseudo-header.
    public func emit(into segment: UnsafeMutableRawBufferPointer, source: IPv6Address, destination: IPv6Address) throws(WireError) {
        try emit(into: segment, pseudoHeader: Checksum.pseudoHeader(
            source: source, destination: destination, protocol: .tcp, length: segment.count))
    }

    /// Writes the header into `segment`, continuing `pseudoHeader` over the whole segment for the checksum.
    /// - Throws: ``WireError/bufferTooSmall(_:needed:available:)`` when `segment` is shorter than ``length``.
    public func emit(into segment: UnsafeMutableRawBufferPointer, pseudoHeader: Checksum) throws(WireError) {
        try writeFields(into: segment)
        var sum = pseudoHeader
        sum.add(segment.readOnly)
        segment.storeBigEndian(sum.checksum, at: 16)
    }

    /// Writes the header into `header` (at least ``length`` bytes) for a payload that is not behind it
    /// in the same buffer (it is gathered from elsewhere when the packet is sent): `payload` is the
    /// payload's sum (a ``Checksum`` fed its bytes in order), `pseudoHeader` the pseudo-header for the
    /// whole segment's length, header plus payload.
    /// - Throws: ``WireError/bufferTooSmall(_:needed:available:)`` when `header` is shorter than ``length``.
    public func emit(intoHeader header: UnsafeMutableRawBufferPointer, pseudoHeader: Checksum, payload: Checksum) throws(WireError) {
        try writeFields(into: header)
        var sum = pseudoHeader
        sum.add(UnsafeRawBufferPointer(rebasing: header[0..<length]))
        sum.add(payload)
        header.storeBigEndian(sum.checksum, at: 16)
    }

    /// Writes every field and option, with a zero checksum, into the first ``length`` bytes of `segment`.
    private func writeFields(into segment: UnsafeMutableRawBufferPointer) throws(WireError) {
        let headerLength = length
        guard segment.count >= headerLength else {
            throw .bufferTooSmall(.tcp, needed: headerLength, available: segment.count)
        }
        segment.storeBigEndian(sourcePort, at: 0)
        segment.storeBigEndian(destinationPort, at: 2)
        segment.storeBigEndian(sequenceNumber, at: 4)
        segment.storeBigEndian(acknowledgmentNumber, at: 8)
        segment.storeBigEndian(UInt16(headerLength / 4) << 12 | (flags.rawValue & TCPFlags.all.rawValue), at: 12)
        segment.storeBigEndian(window, at: 14)
        segment.storeBigEndian(UInt16(0), at: 16)
        segment.storeBigEndian(urgentPointer, at: 18)
        try options.emit(into: UnsafeMutableRawBufferPointer(rebasing: segment[TCPSegment.minimumHeaderLength..<headerLength]))
    }
}
