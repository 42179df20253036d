import Wire

/// IPv4Packet: validation never traps; accessors stay inside the buffer; IPv4Header(parsed) emitted
/// with the same options and payload parses back to the same header, with a valid checksum.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let packet = try? IPv4Packet(validating: input) else { return 0 }
    precondition(packet.headerLength >= 20 && packet.headerLength <= 60 && packet.headerLength <= packet.totalLength)
    precondition(packet.totalLength <= size && packet.payload.count == packet.totalLength - packet.headerLength)
    precondition(packet.options.count == packet.headerLength - 20)
    _ = packet.isHeaderChecksumValid
    let header = IPv4Header(packet)

    // Rebuild: the builder writes a 20-byte header without options, so options are copied after
    // it by hand (counted as payload for the builder), then IHL is patched and the checksum redone.
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: packet.totalLength, alignment: 8)
    defer { output.deallocate() }
    var withOptionsAsPayload = header
    withOptionsAsPayload.payloadLength = packet.totalLength - IPv4Header.length
    do {
        try withOptionsAsPayload.emit(into: output)
    } catch {
        preconditionFailure("emit failed for a parsed header: \(error)")
    }
    UnsafeMutableRawBufferPointer(rebasing: output[20..<packet.headerLength]).copyMemory(from: packet.options)
    UnsafeMutableRawBufferPointer(rebasing: output[packet.headerLength...]).copyMemory(from: packet.payload)
    output[0] = 0x40 | UInt8(packet.headerLength / 4)
    output[10] = 0
    output[11] = 0
    let checksum = Checksum.compute(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(output)[0..<packet.headerLength]))
    output[10] = UInt8(checksum >> 8)
    output[11] = UInt8(checksum & 0xFF)

    guard let reparsed = try? IPv4Packet(validating: UnsafeRawBufferPointer(output)) else {
        preconditionFailure("rebuilt packet does not parse")
    }
    precondition(IPv4Header(reparsed) == header, "header fields changed in the round trip")
    precondition(reparsed.isHeaderChecksumValid, "rebuilt header checksum does not verify")
    precondition(reparsed.payload.elementsEqual(packet.payload) && reparsed.options.elementsEqual(packet.options))
    // Only the reserved flag bit may differ from the input header (the builder always clears it).
    // A header whose words sum to 0xFFFF verifies with checksum 0x0000 and with 0xFFFF (one's
    // complement +0 and -0, RFC 1624 §3); the builder writes 0x0000, so only that field may differ then.
    if !packet.reservedFlag && packet.isHeaderChecksumValid {
        let negativeZero = packet.bytes[10] == 0xFF && packet.bytes[11] == 0xFF && output[10] == 0 && output[11] == 0
        precondition(
            reparsed.bytes.indices.allSatisfy { reparsed.bytes[$0] == packet.bytes[$0] || (negativeZero && ($0 == 10 || $0 == 11)) },
            "valid input was not rebuilt byte for byte")
    }

    // In-place NAT + TTL rewrite: checksums that verified before still verify (RFC 1624 update).
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: packet.totalLength, alignment: 8)
    defer { copy.deallocate() }
    copy.copyMemory(from: packet.bytes)
    guard let mutable = try? MutableIPv4Packet(validating: copy) else { preconditionFailure("copy does not validate") }
    let transportWasValid = transportChecksumValid(packet)
    let headerWasValid = packet.isHeaderChecksumValid
    mutable.setSource(IPv4Address(rawValue: packet.source.rawValue ^ 0x5A5A_0F0F))
    mutable.setDestination(IPv4Address(100, 64, 0, 9))
    mutable.setTimeToLive(packet.timeToLive &- 1)
    precondition(!headerWasValid || mutable.packet.isHeaderChecksumValid, "header checksum broken by rewrite")
    precondition(transportWasValid != true || transportChecksumValid(mutable.packet) == true, "transport checksum broken by rewrite")

    // The transport parsers must not trap on whatever the payload holds.
    switch packet.protocol {
    case .tcp: _ = try? TCPSegment(validating: packet.payload).options
    case .udp: _ = (try? UDPDatagram(validating: packet.payload))?.isChecksumValid(source: packet.source, destination: packet.destination)
    case .icmp: _ = try? ICMPv4(ICMPv4Message(validating: packet.payload))
    default: break
    }
    return 0
}

/// Whether the TCP/UDP checksum verifies, or nil when the packet carries no whole TCP/UDP datagram.
func transportChecksumValid(_ packet: IPv4Packet) -> Bool? {
    guard !packet.isFragment else { return nil }
    switch packet.protocol {
    case .tcp:
        guard let segment = try? TCPSegment(validating: packet.payload) else { return nil }
        return segment.isChecksumValid(source: packet.source, destination: packet.destination)
    case .udp:
        guard let datagram = try? UDPDatagram(validating: packet.payload), datagram.length == packet.payload.count else { return nil }
        return datagram.isChecksumValid(source: packet.source, destination: packet.destination)
    default:
        return nil
    }
}
