/// A validated, writable view of an IPv6 packet for in-place rewrites of the addresses and hop limit.
///
/// IPv6 has no header checksum; an address rewrite updates the checksum of the upper layer found by
/// the extension-header walk — TCP, UDP or ICMPv6, all of which cover the pseudo-header (RFC 8200
/// §8.1, RFC 4443 §2.3) — with the RFC 1624 incremental update. Non-first fragments carry no upper
/// header and are left alone. (Routing headers are not consulted: the pseudo-header's destination
/// is taken to be the one in the fixed header.)
public struct MutableIPv6Packet {
    /// The packet, exactly `40 + payloadLength` bytes.
    public let bytes: UnsafeMutableRawBufferPointer
    /// The validated read-only view (extension-header walk included) of the same bytes.
    public let packet: IPv6Packet

    /// Validates like ``IPv6Packet/init(validating:)``.
    public init(validating bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        let view = try IPv6Packet(validating: UnsafeRawBufferPointer(bytes))
        self.bytes = UnsafeMutableRawBufferPointer(rebasing: bytes[0..<view.bytes.count])
        self.packet = view
    }

    /// Sets the hop limit (no checksum covers it).
    public func setHopLimit(_ hopLimit: UInt8) { bytes.storeByte(hopLimit, at: 7) }

    /// Rewrites the source address and updates the upper-layer checksum.
    public func setSource(_ address: IPv6Address) { rewriteAddress(at: 8, to: address) }

    /// Rewrites the destination address and updates the upper-layer checksum.
    public func setDestination(_ address: IPv6Address) { rewriteAddress(at: 24, to: address) }

    private func rewriteAddress(at offset: Int, to address: IPv6Address) {
        let old = bytes.readOnly.ipv6Address(offset)
        bytes.store(address, at: offset)
        if let fragment = packet.fragmentHeader, fragment.fragmentOffset != 0 { return }
        let available = packet.bytes.count - packet.upperLayerOffset
        if packet.upperLayerProtocol == .icmpv6 {
            guard available >= ICMPv6Message.headerLength else { return }
            let field = packet.upperLayerOffset + 2
            bytes.storeBigEndian(Checksum.update(bytes.readOnly.bigEndianUInt16(field), replacing: old, with: address), at: field)
        } else if let field = TransportChecksumField(
            protocol: packet.upperLayerProtocol, transportOffset: packet.upperLayerOffset, available: available) {
            field.update(in: bytes) { Checksum.update($0, replacing: old, with: address) }
        }
    }
}
