import Wire

/// Exact IPv4/IPv6 packets for the packet-filter tests, built with `Wire`'s header builders.
enum TailnetPackets {
    static func ip(_ source: IPAddress, _ destination: IPAddress, _ proto: IPProtocol, payloadLength: Int,
                   fragmentOffset: Int = 0, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
        switch (source, destination) {
        case let (.v4(s), .v4(d)):
            var bytes = [UInt8](repeating: 0, count: 20 + payloadLength)
            bytes.withUnsafeMutableBytes { raw in
                try! IPv4Header(source: s, destination: d, protocol: proto, payloadLength: payloadLength,
                                fragmentOffset: fragmentOffset).emit(into: raw)
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
            fatalError("mixed address families")
        }
    }

    static func tcp(_ source: IPAddress, _ sourcePort: UInt16, _ destination: IPAddress, _ destinationPort: UInt16,
                    flags: TCPFlags) -> [UInt8] {
        let header = TCPHeader(sourcePort: sourcePort, destinationPort: destinationPort, sequenceNumber: 1000,
                               acknowledgmentNumber: flags.contains(.ack) ? 1 : 0, flags: flags, window: 65535)
        return ip(source, destination, .tcp, payloadLength: header.length) { area in
            switch (source, destination) {
            case let (.v4(s), .v4(d)): try! header.emit(into: area, source: s, destination: d)
            case let (.v6(s), .v6(d)): try! header.emit(into: area, source: s, destination: d)
            default: break
            }
        }
    }

    static func udp(_ source: IPAddress, _ sourcePort: UInt16, _ destination: IPAddress, _ destinationPort: UInt16,
                    payload: [UInt8] = [1, 2, 3]) -> [UInt8] {
        ip(source, destination, .udp, payloadLength: 8 + payload.count) { area in
            payload.withUnsafeBytes { area.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: payload.count) }
            let header = UDPHeader(sourcePort: sourcePort, destinationPort: destinationPort)
            switch (source, destination) {
            case let (.v4(s), .v4(d)): try! header.emit(into: area, source: s, destination: d)
            case let (.v6(s), .v6(d)): try! header.emit(into: area, source: s, destination: d)
            default: break
            }
        }
    }

    static func echoRequest(_ source: IPAddress, _ destination: IPAddress, reply: Bool = false) -> [UInt8] {
        let data: [UInt8] = [0xAB, 0xCD]
        return data.withUnsafeBytes { data in
            switch (source, destination) {
            case (.v4, .v4):
                let message: ICMPv4 = reply ? .echoReply(identifier: 7, sequenceNumber: 1, data: data)
                    : .echoRequest(identifier: 7, sequenceNumber: 1, data: data)
                return ip(source, destination, .icmp, payloadLength: message.length) { _ = try! message.emit(into: $0) }
            case let (.v6(s), .v6(d)):
                let message: ICMPv6 = reply ? .echoReply(identifier: 7, sequenceNumber: 1, data: data)
                    : .echoRequest(identifier: 7, sequenceNumber: 1, data: data)
                return ip(source, destination, IPProtocol(58), payloadLength: message.length) {
                    _ = try! message.emit(into: $0, source: s, destination: d)
                }
            default:
                fatalError("mixed address families")
            }
        }
    }
}
