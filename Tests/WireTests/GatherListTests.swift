import Testing
@testable import Wire

/// A packet whose payload stays where it lies: the run list, the checksum of a payload summed apart
/// from its header, and the TCP header written for such a payload (issue 15).
@Suite("Gathered packets: GatherList, Checksum.add(_: Checksum), TCPHeader.emit(intoHeader:)")
struct GatherListTests {
    @Test("runs are kept in order, an empty run adds nothing, a fourth is refused, copy(into:) makes the packet whole")
    func runsAndCopy() {
        let source: [UInt8] = Array(0..<200)
        var packet = [UInt8](repeating: 0xFF, count: 200)
        source.withUnsafeBytes { bytes in
            var list = GatherList()
            #expect(list.isEmpty && list.end == 0)
            func add(_ range: Range<Int>) -> Bool {
                list.append(UnsafeRawBufferPointer(rebasing: bytes[range]), at: range.lowerBound)
            }
            let first = add(20..<60), empty = add(60..<60)
            #expect(first && empty && list.count == 1)
            let second = add(60..<100), third = add(150..<199), fourth = add(199..<200)
            #expect(second && third && !fourth)
            #expect(list.count == 3 && list.end == 199)
            #expect(list[1].offset == 60 && list[1].count == 40 && Array(list[1].bytes) == Array(source[60..<100]))
            packet.withUnsafeMutableBytes { list.copy(into: $0) }
        }
        #expect(Array(packet[20..<100]) == Array(source[20..<100]))
        #expect(Array(packet[150..<199]) == Array(source[150..<199]))
        #expect(packet[0..<20].allSatisfy { $0 == 0xFF } && packet[100..<150].allSatisfy { $0 == 0xFF } && packet[199] == 0xFF)
    }

    @Test("a sum of following bytes, added to a sum, equals adding the bytes: every split, odd positions included")
    func checksumConcatenation() {
        var rng = SplitMix64(seed: 1624)
        let data = (0..<301).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { all in
            let expected = Checksum.compute(all)
            for first in 0...all.count {
                for second in [first, min(all.count, first + 1), min(all.count, first + 77), all.count] {
                    var head = Checksum()
                    head.add(UnsafeRawBufferPointer(rebasing: all[0..<first]))
                    var middle = Checksum()
                    middle.add(UnsafeRawBufferPointer(rebasing: all[first..<second]))
                    var tail = Checksum()
                    tail.add(UnsafeRawBufferPointer(rebasing: all[second...]))
                    head.add(middle)
                    head.add(tail)
                    if head.checksum != expected {
                        Issue.record("split at \(first), \(second): \(head.checksum) != \(expected)")
                        return
                    }
                }
            }
        }
    }

    @Test("a header written for a payload summed elsewhere equals one written over header and payload", arguments: [0, 1, 2, 1367, 1368])
    func tcpHeaderForGatheredPayload(payloadLength: Int) throws {
        let source = IPv4Address(100, 64, 1, 1), destination = IPv4Address(100, 64, 1, 2)
        let header = TCPHeader(sourcePort: 40000, destinationPort: 443, sequenceNumber: 0x1234_5678,
                               acknowledgmentNumber: 0x9ABC_DEF0, flags: [.ack, .psh], window: 501,
                               options: TCPOptions(timestamps: TCPTimestamps(value: 1, echoReply: 2)))
        let payload = (0..<payloadLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        var whole = [UInt8](repeating: 0, count: header.length) + payload
        try whole.withUnsafeMutableBytes { try header.emit(into: $0, source: source, destination: destination) }
        var headerOnly = [UInt8](repeating: 0xAA, count: header.length)
        var payloadSum = Checksum()
        payload.withUnsafeBytes { payloadSum.add($0) }
        try headerOnly.withUnsafeMutableBytes {
            try header.emit(intoHeader: $0, pseudoHeader: Checksum.pseudoHeader(
                source: source, destination: destination, protocol: .tcp, length: header.length + payloadLength), payload: payloadSum)
        }
        #expect(headerOnly == Array(whole[0..<header.length]))
    }
}
