/// A validated, writable view of an IPv4 packet for in-place rewrites — NAT of an address, a TTL
/// decrement — that keeps the header checksum and the TCP or UDP checksum correct with the RFC 1624
/// incremental update instead of re-summing the packet.
///
/// The transport checksum is updated when the packet carries the transport header: TCP and UDP in
/// an unfragmented packet or a first fragment whose transport header is present. A UDP checksum of
/// zero (none, RFC 768) stays zero, and an updated UDP checksum that comes out zero is stored as
/// 0xFFFF. ICMPv4 has no pseudo-header, so address rewrites leave it alone.
///
/// ```swift
/// let packet = try MutableIPv4Packet(validating: buffer)
/// packet.setSource(publicAddress)          // IP and TCP/UDP checksums follow
/// packet.setTimeToLive(packet.packet.timeToLive - 1)
/// ```
public struct MutableIPv4Packet {
    /// The packet, exactly ``IPv4Packet/totalLength`` bytes.
    public let bytes: UnsafeMutableRawBufferPointer

    /// Validates like ``IPv4Packet/init(validating:)``.
    public init(validating bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        let view = try IPv4Packet(validating: UnsafeRawBufferPointer(bytes))
        self.bytes = UnsafeMutableRawBufferPointer(rebasing: bytes[0..<view.totalLength])
    }

    /// The read-only view of the same bytes.
    public var packet: IPv4Packet { IPv4Packet(alreadyValidated: UnsafeRawBufferPointer(bytes)) }

    /// Sets the TTL, updating the header checksum (RFC 1624 over the TTL/protocol word).
    public func setTimeToLive(_ timeToLive: UInt8) {
        let old = bytes.readOnly.bigEndianUInt16(8)
        let new = UInt16(timeToLive) << 8 | (old & 0x00FF)
        bytes.storeBigEndian(new, at: 8)
        updateHeaderChecksum { Checksum.update($0, replacing: old, with: new) }
    }

    /// Rewrites the source address, updating the header checksum and the TCP/UDP checksum.
    public func setSource(_ address: IPv4Address) { rewriteAddress(at: 12, to: address) }

    /// Rewrites the destination address, updating the header checksum and the TCP/UDP checksum.
    public func setDestination(_ address: IPv4Address) { rewriteAddress(at: 16, to: address) }

    private func rewriteAddress(at offset: Int, to address: IPv4Address) {
        let old = bytes.readOnly.ipv4Address(offset)
        bytes.store(address, at: offset)
        updateHeaderChecksum { Checksum.update($0, replacing: old, with: address) }
        TransportChecksumField(packet: packet)?.update(in: bytes) { Checksum.update($0, replacing: old, with: address) }
    }

    private func updateHeaderChecksum(_ update: (UInt16) -> UInt16) {
        bytes.storeBigEndian(update(bytes.readOnly.bigEndianUInt16(10)), at: 10)
    }
}

/// Where a TCP or UDP checksum that covers the pseudo-header sits in a packet, if it is there.
struct TransportChecksumField {
    let offset: Int
    let isUDP: Bool

    init?(packet: IPv4Packet) {
        guard packet.fragmentOffset == 0 else { return nil }
        self.init(protocol: packet.protocol, transportOffset: packet.headerLength, available: packet.payload.count)
    }

    init?(protocol: IPProtocol, transportOffset: Int, available: Int) {
        switch `protocol` {
        case .tcp where available >= TCPSegment.minimumHeaderLength:
            offset = transportOffset + 16
            isUDP = false
        case .udp where available >= UDPDatagram.headerLength:
            offset = transportOffset + 6
            isUDP = true
        default:
            return nil
        }
    }

    /// Applies `update` to the stored checksum, keeping RFC 768's zero-means-none rule for UDP.
    func update(in bytes: UnsafeMutableRawBufferPointer, _ update: (UInt16) -> UInt16) {
        let old = bytes.readOnly.bigEndianUInt16(offset)
        if isUDP && old == 0 { return }
        var new = update(old)
        if isUDP && new == 0 { new = 0xFFFF }
        bytes.storeBigEndian(new, at: offset)
    }
}
