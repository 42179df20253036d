import Wire
@testable import NetStack

let clientV4 = IPAddress("100.64.6.1")!
let stackV4 = IPAddress("100.64.6.2")!
let clientV6 = IPAddress("fd7a:115c:a1e0:6::1")!
let stackV6 = IPAddress("fd7a:115c:a1e0:6::2")!

/// A stack owning 100.64.6.2 and fd7a:115c:a1e0:6::2.
func makeStack(mtu: Int = 1500, _ adjust: (inout IPStackConfiguration) -> Void = { _ in }) -> IPStack {
    var config = IPStackConfiguration(addresses: [stackV4, stackV6])
    config.mtu = mtu
    config.randomSeed = 42
    adjust(&config)
    return IPStack(configuration: config)
}

/// Everything the stack wants to send now.
func drain(_ stack: IPStack, now: NetInstant = .zero) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while let n = buffer.withUnsafeMutableBytes({ stack.nextOutgoingPacket(into: $0, now: now) }) {
        out.append(Array(buffer.prefix(n)))
    }
    return out
}

func deliver(_ packet: [UInt8], to stack: IPStack, now: NetInstant = .zero) {
    packet.withUnsafeBytes { stack.receive($0, now: now) }
}

/// An IP packet around `payload` (which the closure fills given the pseudo-header addresses).
func ipPacket(
    from source: IPAddress, to destination: IPAddress, protocol proto: IPProtocol, payloadLength: Int,
    identification: UInt16 = 1, moreFragments: Bool = false, fragmentOffset: Int = 0,
    _ fill: (UnsafeMutableRawBufferPointer) -> Void
) -> [UInt8] {
    switch (source, destination) {
    case let (.v4(s), .v4(d)):
        var bytes = [UInt8](repeating: 0, count: 20 + payloadLength)
        bytes.withUnsafeMutableBytes { raw in
            try! IPv4Header(
                source: s, destination: d, protocol: proto, payloadLength: payloadLength,
                identification: identification, moreFragments: moreFragments, fragmentOffset: fragmentOffset
            ).emit(into: raw)
            fill(UnsafeMutableRawBufferPointer(rebasing: raw[20...]))
        }
        return bytes
    case let (.v6(s), .v6(d)):
        var bytes = [UInt8](repeating: 0, count: 40 + payloadLength)
        bytes.withUnsafeMutableBytes { raw in
            try! IPv6Header(source: s, destination: d, nextHeader: proto, payloadLength: payloadLength).emit(into: raw)
            fill(UnsafeMutableRawBufferPointer(rebasing: raw[40...]))
        }
        return bytes
    default:
        fatalError("mixed families")
    }
}

func udpPacket(from source: IPEndpoint, to destination: IPEndpoint, payload: [UInt8]) -> [UInt8] {
    ipPacket(from: source.address, to: destination.address, protocol: .udp, payloadLength: 8 + payload.count) { area in
        payload.withUnsafeBytes { area.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: payload.count) }
        let header = UDPHeader(sourcePort: source.port, destinationPort: destination.port)
        switch (source.address, destination.address) {
        case let (.v4(s), .v4(d)): try! header.emit(into: area, source: s, destination: d)
        case let (.v6(s), .v6(d)): try! header.emit(into: area, source: s, destination: d)
        default: break
        }
    }
}

func tcpPacket(
    from source: IPEndpoint, to destination: IPEndpoint, seq: UInt32, ack: UInt32 = 0, flags: TCPFlags,
    window: UInt16 = 65535, options: TCPOptions = TCPOptions(), payload: [UInt8] = []
) -> [UInt8] {
    let header = TCPHeader(
        sourcePort: source.port, destinationPort: destination.port, sequenceNumber: seq, acknowledgmentNumber: ack,
        flags: flags, window: window, options: options)
    let length = header.length + payload.count
    return ipPacket(from: source.address, to: destination.address, protocol: .tcp, payloadLength: length) { area in
        if !payload.isEmpty {
            payload.withUnsafeBytes { area.baseAddress!.advanced(by: header.length).copyMemory(from: $0.baseAddress!, byteCount: payload.count) }
        }
        switch (source.address, destination.address) {
        case let (.v4(s), .v4(d)): try! header.emit(into: area, source: s, destination: d)
        case let (.v6(s), .v6(d)): try! header.emit(into: area, source: s, destination: d)
        default: break
        }
    }
}

/// The TCP header of an IP packet the stack sent.
func parseTCP(_ packet: [UInt8]) -> TCPHeader? {
    packet.withUnsafeBytes { raw -> TCPHeader? in
        if raw[0] >> 4 == 4 {
            guard let ip = try? IPv4Packet(validating: raw), ip.isHeaderChecksumValid,
                let tcp = try? TCPSegment(validating: ip.payload),
                tcp.isChecksumValid(source: ip.source, destination: ip.destination)
            else { return nil }
            return TCPHeader(tcp)
        }
        guard let ip = try? IPv6Packet(validating: raw), let tcp = try? TCPSegment(validating: ip.payload),
            tcp.isChecksumValid(source: ip.source, destination: ip.destination)
        else { return nil }
        return TCPHeader(tcp)
    }
}
