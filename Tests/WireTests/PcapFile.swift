import Foundation

/// A minimal reader for classic pcap files (the format `tcpdump -w` writes): the global header,
/// then records. Ethernet (link type 1) frames are stripped to their IPv4/IPv6 payload; raw-IP
/// link types (101, 228, 229) are returned as they are.
struct PcapFile {
    enum Failure: Error, CustomStringConvertible {
        case unreadable(String)
        case badMagic(UInt32)
        case unsupportedLinkType(UInt32)
        case truncatedRecord(Int)
        var description: String {
            switch self {
            case let .unreadable(path): return "cannot read \(path)"
            case let .badMagic(magic): return "not a pcap file (magic \(String(magic, radix: 16)))"
            case let .unsupportedLinkType(type): return "unsupported pcap link type \(type)"
            case let .truncatedRecord(offset): return "truncated pcap record at \(offset)"
            }
        }
    }

    /// The IP packets, in capture order.
    let packets: [[UInt8]]

    /// Reads `Fixtures/<name>` next to this source file.
    init(fixture name: String) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name).path
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure.unreadable(path) }
        try self.init(bytes: [UInt8](data))
    }

    init(bytes: [UInt8]) throws {
        guard bytes.count >= 24 else { throw Failure.truncatedRecord(0) }
        func u32(_ offset: Int, swapped: Bool) -> UInt32 {
            let value = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
            return swapped ? value.byteSwapped : value
        }
        let magic = u32(0, swapped: false)
        let swapped: Bool
        switch magic {
        case 0xA1B2_C3D4, 0xA1B2_3C4D: swapped = false
        case 0xD4C3_B2A1, 0x4D3C_B2A1: swapped = true
        default: throw Failure.badMagic(magic)
        }
        let linkType = u32(20, swapped: swapped) & 0x0FFF_FFFF
        var packets: [[UInt8]] = []
        var offset = 24
        while offset < bytes.count {
            guard offset + 16 <= bytes.count else { throw Failure.truncatedRecord(offset) }
            let length = Int(u32(offset + 8, swapped: swapped))
            guard offset + 16 + length <= bytes.count else { throw Failure.truncatedRecord(offset) }
            let frame = Array(bytes[offset + 16..<offset + 16 + length])
            offset += 16 + length
            switch linkType {
            case 1:  // Ethernet: 14-byte header, possibly one 802.1Q tag.
                var start = 12
                if frame.count >= 18 && frame[12] == 0x81 && frame[13] == 0x00 { start = 16 }
                guard frame.count >= start + 2 else { continue }
                let etherType = UInt16(frame[start]) << 8 | UInt16(frame[start + 1])
                guard etherType == 0x0800 || etherType == 0x86DD else { continue }
                packets.append(Array(frame[(start + 2)...]))
            case 101, 228, 229:
                packets.append(frame)
            default:
                throw Failure.unsupportedLinkType(linkType)
            }
        }
        self.packets = packets
    }
}
