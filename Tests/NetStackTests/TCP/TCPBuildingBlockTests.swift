import Testing
@testable import NetStack

@Suite("TCP building blocks")
struct TCPBuildingBlockTests {
    @Test("RFC 9293 §3.4: sequence comparison is modulo 2^32")
    func sequenceNumbersCompareAcrossWrap() {
        let a = SequenceNumber(0xFFFF_FFF0)
        let b = a + 0x20
        #expect(b.rawValue == 0x10)
        #expect(a < b)
        #expect(b > a)
        #expect(b - a == 0x20)
        #expect(a - b == -0x20)
        #expect(a <= a && a >= a)
        #expect(b - 0x20 == a)
    }

    @Test("ByteRing wraps around, never exceeds capacity and copies at offsets")
    func byteRingWrapsAndBounds() {
        let ring = ByteRing(capacity: 10)
        let data: [UInt8] = Array(0..<8)
        #expect(data.withUnsafeBytes { ring.append($0) } == 8)
        var out = [UInt8](repeating: 0, count: 5)
        #expect(out.withUnsafeMutableBytes { ring.read(into: $0) } == 5)
        #expect(out == [0, 1, 2, 3, 4])
        // 3 left; 7 free; writing 9 accepts 7 and wraps.
        let more: [UInt8] = Array(10..<19)
        #expect(more.withUnsafeBytes { ring.append($0) } == 7)
        #expect(ring.count == 10 && ring.freeSpace == 0)
        var all = [UInt8](repeating: 0, count: 10)
        #expect(all.withUnsafeMutableBytes { ring.peek(atOffset: 0, into: $0) } == 10)
        #expect(all == [5, 6, 7, 10, 11, 12, 13, 14, 15, 16])
        var mid = [UInt8](repeating: 0, count: 4)
        #expect(mid.withUnsafeMutableBytes { ring.peek(atOffset: 2, into: $0) } == 4)
        #expect(mid == [7, 10, 11, 12])
        #expect(ring.consume(100) == 10)
        #expect(ring.isEmpty)
    }

    @Test("ByteRing stores bytes beyond the tail and commits them later (out-of-order data)")
    func byteRingWritesAtOffset() {
        let ring = ByteRing(capacity: 8)
        let late: [UInt8] = [4, 5, 6]
        #expect(late.withUnsafeBytes { ring.write($0, atOffset: 4) } == 3)
        #expect(ring.count == 0)
        let early: [UInt8] = [0, 1, 2, 3]
        #expect(early.withUnsafeBytes { ring.write($0, atOffset: 0) } == 4)
        ring.commit(7)
        var out = [UInt8](repeating: 0, count: 7)
        #expect(out.withUnsafeMutableBytes { ring.read(into: $0) } == 7)
        #expect(out == [0, 1, 2, 3, 4, 5, 6])
        // Beyond capacity is refused.
        #expect(late.withUnsafeBytes { ring.write($0, atOffset: 8) } == 0)
    }

    @Test("SegmentAssembler merges ranges, yields the contiguous prefix and is bounded")
    func assemblerMergesAndBounds() {
        var a = SegmentAssembler(maxRanges: 3)
        let r1 = a.add(start: 10, end: 20)
        #expect(r1)
        let r2 = a.add(start: 30, end: 40)
        #expect(r2)
        let r3 = a.add(start: 50, end: 60)
        #expect(r3)
        let r4 = a.add(start: 70, end: 80)
        #expect(!r4)  // would be a fourth range
        let r5 = a.add(start: 15, end: 35)
        #expect(r5)  // merges the first two
        #expect(a.ranges.count == 2)
        #expect(a.takeContiguousPrefix() == 0)
        let r6 = a.add(start: 0, end: 10)
        #expect(r6)
        #expect(a.takeContiguousPrefix() == 40)
        #expect(a.ranges.count == 1 && a.ranges[0].start == 10 && a.ranges[0].end == 20)
    }

    @Test("RFC 6298 §2.2-2.3: RTO from the first and later samples, clamped to the minimum")
    func rtoEstimator() {
        var rto = RetransmissionTimeout(minimum: 200_000_000, maximum: 60_000_000_000)
        #expect(rto.current == 1_000_000_000)  // §2.1
        rto.sample(100_000_000)
        // SRTT = 100 ms, RTTVAR = 50 ms, RTO = 100 + 4*50 = 300 ms.
        #expect(rto.smoothedRTT == 100_000_000)
        #expect(rto.current == 300_000_000)
        rto.sample(100_000_000)
        // RTTVAR = 3/4*50 = 37.5, SRTT = 100, RTO = 250 ms.
        #expect(rto.current == 250_000_000)
        for _ in 0..<50 { rto.sample(1_000_000) }
        #expect(rto.current == 200_000_000)  // §2.4 floor (configured)
    }

    @Test("RFC 6298 §5.5: backoff doubles the RTO up to the maximum")
    func rtoBackoff() {
        var rto = RetransmissionTimeout(minimum: 200_000_000, maximum: 3_000_000_000)
        rto.backOff()
        #expect(rto.current == 2_000_000_000)
        rto.backOff()
        #expect(rto.current == 3_000_000_000)
        rto.resetBackoff()
        #expect(rto.current == 1_000_000_000)
    }
}

extension TCPBuildingBlockTests {
    @Test("ByteRing keeps out-of-order bytes in place when the reader empties it")
    func byteRingEmptyingKeepsOffsets() {
        let ring = ByteRing(capacity: 16)
        let first: [UInt8] = [1, 2, 3, 4, 5]
        _ = first.withUnsafeBytes { ring.append($0) }
        let late: [UInt8] = [9, 9]
        #expect(late.withUnsafeBytes { ring.write($0, atOffset: 3) } == 2)  // beyond the tail
        var out = [UInt8](repeating: 0, count: 5)
        _ = out.withUnsafeMutableBytes { ring.read(into: $0) }  // the ring is now empty
        let gap: [UInt8] = [6, 7, 8]
        _ = gap.withUnsafeBytes { ring.write($0, atOffset: 0) }
        ring.commit(5)
        var all = [UInt8](repeating: 0, count: 5)
        _ = all.withUnsafeMutableBytes { ring.read(into: $0) }
        #expect(all == [6, 7, 8, 9, 9])
    }
}
