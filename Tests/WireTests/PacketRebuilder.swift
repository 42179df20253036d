import Wire

/// Rebuilds an IP packet with the `Wire` builders from the fields its views parse, for byte-for-byte
/// comparison with the original: IP header from `IPv4Header`/`IPv6Header`, IPv6 fragment headers from
/// `IPv6FragmentHeader` (other extension headers are copied), transport headers and checksums from
/// `TCPHeader`/`UDPHeader`/`ICMPv4`/`ICMPv6`. Payloads are copied. Fragments keep their payload
/// as is (a transport checksum covers the whole reassembled datagram).
enum PacketRebuilder {
    static func rebuild(_ packet: [UInt8]) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: packet.count)
        try packet.withUnsafeBytes { input in
            try output.withUnsafeMutableBytes { output in
                if input.first.map({ $0 >> 4 }) == 4 {
                    let ip = try IPv4Packet(validating: input)
                    try IPv4Header(ip).emit(into: output)
                    UnsafeMutableRawBufferPointer(rebasing: output[20..<ip.headerLength]).copyMemory(from: ip.options)
                    let transport = UnsafeMutableRawBufferPointer(rebasing: output[ip.headerLength..<ip.totalLength])
                    if ip.isFragment {
                        transport.copyMemory(from: ip.payload)
                    } else {
                        try rebuildTransport(ip.protocol, ip.payload, into: transport, v4: (ip.source, ip.destination), v6: nil)
                    }
                } else {
                    let ip = try IPv6Packet(validating: input)
                    try IPv6Header(ip).emit(into: output)
                    var offset = IPv6Header.length
                    for header in ip.extensionHeaders {
                        let slot = UnsafeMutableRawBufferPointer(rebasing: output[offset..<offset + header.bytes.count])
                        if header.kind == .ipv6Fragment, let fragment = ip.fragmentHeader {
                            try fragment.emit(into: slot)
                        } else {
                            slot.copyMemory(from: header.bytes)
                        }
                        offset += header.bytes.count
                    }
                    let transport = UnsafeMutableRawBufferPointer(rebasing: output[ip.upperLayerOffset..<ip.bytes.count])
                    if let fragment = ip.fragmentHeader, !fragment.isAtomic {
                        transport.copyMemory(from: ip.payload)
                    } else {
                        try rebuildTransport(ip.upperLayerProtocol, ip.payload, into: transport, v4: nil, v6: (ip.source, ip.destination))
                    }
                }
            }
        }
        return output
    }

    static func rebuildTransport(
        _ proto: IPProtocol, _ payload: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
        v4: (IPv4Address, IPv4Address)?, v6: (IPv6Address, IPv6Address)?
    ) throws {
        switch proto {
        case .tcp:
            let segment = try TCPSegment(validating: payload)
            let header = TCPHeader(segment)
            UnsafeMutableRawBufferPointer(rebasing: output[header.length...]).copyMemory(from: segment.payload)
            if let (source, destination) = v4 { try header.emit(into: output, source: source, destination: destination) }
            if let (source, destination) = v6 { try header.emit(into: output, source: source, destination: destination) }
        case .udp:
            let datagram = try UDPDatagram(validating: payload)
            UnsafeMutableRawBufferPointer(rebasing: output[8...]).copyMemory(from: datagram.payload)
            if let (source, destination) = v4 { try UDPHeader(datagram).emit(into: output, source: source, destination: destination) }
            if let (source, destination) = v6 { try UDPHeader(datagram).emit(into: output, source: source, destination: destination) }
        case .icmp:
            try ICMPv4(ICMPv4Message(validating: payload)).emit(into: output)
        case .icmpv6:
            if let (source, destination) = v6 {
                try ICMPv6(ICMPv6Message(validating: payload)).emit(into: output, source: source, destination: destination)
            }
        default:
            output.copyMemory(from: payload)
        }
    }
}
