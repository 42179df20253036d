import Wire

/// IPv6Packet: the extension-header walk never traps or loops; the headers it reports tile the
/// bytes between the fixed header and the payload; IPv6Header(parsed) emitted with the same
/// extension headers and payload parses back to the same packet.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let packet = try? IPv6Packet(validating: input) else { return 0 }
    precondition(packet.bytes.count == 40 + packet.payloadLength && packet.bytes.count <= size)
    precondition(packet.upperLayerOffset >= 40 && packet.upperLayerOffset <= packet.bytes.count)
    var covered = 40
    var count = 0
    for header in packet.extensionHeaders {
        precondition(header.kind.isIPv6ExtensionHeader && header.bytes.count >= 8)
        covered += header.bytes.count
        count += 1
    }
    precondition(covered == packet.upperLayerOffset, "extension headers do not tile the header area")
    precondition(count <= IPv6Packet.maximumExtensionHeaders)
    precondition(packet.payload.count == packet.bytes.count - packet.upperLayerOffset)
    if let fragment = packet.fragmentHeader {
        precondition(fragment.fragmentOffset % 8 == 0 && fragment.fragmentOffset <= 65528)
    }

    let header = IPv6Header(packet)
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: packet.bytes.count, alignment: 8)
    defer { output.deallocate() }
    do {
        try header.emit(into: output)
        var offset = 40
        for extensionHeader in packet.extensionHeaders {
            let slot = UnsafeMutableRawBufferPointer(rebasing: output[offset..<offset + extensionHeader.bytes.count])
            if extensionHeader.kind == .ipv6Fragment, let fragment = packet.fragmentHeader {
                try fragment.emit(into: slot)
                slot[1] = extensionHeader.bytes[1]  // reserved bytes are carried, not interpreted
                slot[3] = slot[3] | (extensionHeader.bytes[3] & 0x06)
            } else {
                slot.copyMemory(from: extensionHeader.bytes)
            }
            offset += extensionHeader.bytes.count
        }
        UnsafeMutableRawBufferPointer(rebasing: output[offset...]).copyMemory(from: packet.payload)
    } catch {
        preconditionFailure("emit failed for a parsed header: \(error)")
    }
    guard let reparsed = try? IPv6Packet(validating: UnsafeRawBufferPointer(output)) else {
        preconditionFailure("rebuilt packet does not parse")
    }
    precondition(IPv6Header(reparsed) == header && reparsed.fragmentHeader == packet.fragmentHeader)
    precondition(reparsed.upperLayerProtocol == packet.upperLayerProtocol && reparsed.upperLayerOffset == packet.upperLayerOffset)
    precondition(reparsed.bytes.elementsEqual(packet.bytes), "rebuilt packet differs from the input")

    // In-place address rewrite: an upper-layer checksum that verified before still verifies.
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: packet.bytes.count, alignment: 8)
    defer { copy.deallocate() }
    copy.copyMemory(from: packet.bytes)
    guard let mutable = try? MutableIPv6Packet(validating: copy) else { preconditionFailure("copy does not validate") }
    let wasValid = upperLayerChecksumValid(packet)
    mutable.setSource(IPv6Address(high: packet.source.high ^ 0x0123_4567_89AB_CDEF, low: ~packet.source.low))
    mutable.setDestination(IPv6Address(high: 0xFD7A_115C_A1E0_0000, low: 9))
    mutable.setHopLimit(packet.hopLimit &- 1)
    guard let rewritten = try? IPv6Packet(validating: UnsafeRawBufferPointer(copy)) else { preconditionFailure("rewrite broke the packet") }
    precondition(wasValid != true || upperLayerChecksumValid(rewritten) == true, "upper-layer checksum broken by rewrite")

    switch packet.upperLayerProtocol {
    case .tcp: _ = (try? TCPSegment(validating: packet.payload))?.isChecksumValid(source: packet.source, destination: packet.destination)
    case .udp: _ = try? UDPDatagram(validating: packet.payload)
    case .icmpv6: _ = try? ICMPv6(ICMPv6Message(validating: packet.payload))
    default: break
    }
    return 0
}

/// Whether the TCP/UDP/ICMPv6 checksum verifies, or nil when there is no whole upper-layer message.
func upperLayerChecksumValid(_ packet: IPv6Packet) -> Bool? {
    if let fragment = packet.fragmentHeader, !fragment.isAtomic { return nil }
    switch packet.upperLayerProtocol {
    case .tcp:
        guard let segment = try? TCPSegment(validating: packet.payload) else { return nil }
        return segment.isChecksumValid(source: packet.source, destination: packet.destination)
    case .udp:
        guard let datagram = try? UDPDatagram(validating: packet.payload), datagram.length == packet.payload.count else { return nil }
        return datagram.isChecksumValid(source: packet.source, destination: packet.destination)
    case .icmpv6:
        guard let message = try? ICMPv6Message(validating: packet.payload) else { return nil }
        return message.isChecksumValid(source: packet.source, destination: packet.destination)
    default:
        return nil
    }
}
