/// The fields of a UDP header (RFC 768), to build one or to hold one parsed from a ``UDPDatagram``.
///
/// The builder works in place: the caller writes the payload at offset 8 of a buffer that spans
/// exactly header plus payload, then `emit` writes the header, the length and the checksum.
///
/// ```swift
/// // buffer = IP header (20) | UDP header (8) | payload (n)
/// try UDPHeader(sourcePort: 5353, destinationPort: 53)
///     .emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[20..<28 + n]), source: a, destination: b)
/// ```
public struct UDPHeader: Hashable, Sendable {
    /// Source port.
    public var sourcePort: UInt16
    /// Destination port.
    public var destinationPort: UInt16

    /// A header with the given ports.
    public init(sourcePort: UInt16, destinationPort: UInt16) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
    }

    /// The ports of a parsed datagram.
    public init(_ datagram: UDPDatagram) {
        self.init(sourcePort: datagram.sourcePort, destinationPort: datagram.destinationPort)
    }

    /// Writes the header into `datagram` (header plus payload already in place) with the checksum
    /// computed from the IPv4 pseudo-header.
    public func emit(into datagram: UnsafeMutableRawBufferPointer, source: IPv4Address, destination: IPv4Address) throws(WireError) {
        try emit(into: datagram, pseudoHeader: Checksum.pseudoHeader(
            source: source, destination: destination, protocol: .udp, length: datagram.count))
    }

    /// Writes the header into `datagram` (header plus payload already in place) with the checksum
    /// computed from the IPv6 pseudo-header.
    public func emit(into datagram: UnsafeMutableRawBufferPointer, source: IPv6Address, destination: IPv6Address) throws(WireError) {
        try emit(into: datagram, pseudoHeader: Checksum.pseudoHeader(
            source: source, destination: destination, protocol: .udp, length: datagram.count))
    }

    /// Writes the header into `datagram`, continuing `pseudoHeader` over the datagram for the
    /// checksum. A computed zero is sent as 0xFFFF (RFC 768).
    /// - Throws: ``WireError/bufferTooSmall(_:needed:available:)`` below 8 bytes,
    ///   ``WireError/fieldOutOfRange(_:field:value:maximum:)`` above 65535.
    public func emit(into datagram: UnsafeMutableRawBufferPointer, pseudoHeader: Checksum) throws(WireError) {
        guard datagram.count >= UDPDatagram.headerLength else {
            throw .bufferTooSmall(.udp, needed: UDPDatagram.headerLength, available: datagram.count)
        }
        guard datagram.count <= 0xFFFF else {
            throw .fieldOutOfRange(.udp, field: "length", value: datagram.count, maximum: 0xFFFF)
        }
        datagram.storeBigEndian(sourcePort, at: 0)
        datagram.storeBigEndian(destinationPort, at: 2)
        datagram.storeBigEndian(UInt16(datagram.count), at: 4)
        datagram.storeBigEndian(UInt16(0), at: 6)
        var sum = pseudoHeader
        sum.add(datagram.readOnly)
        let checksum = sum.checksum
        datagram.storeBigEndian(checksum == 0 ? 0xFFFF : checksum, at: 6)
    }
}
