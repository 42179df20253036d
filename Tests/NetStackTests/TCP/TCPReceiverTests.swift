import Testing
import Wire
@testable import NetStack

/// The receiver's parts alone: ACK policy and SACK block choice.
@Suite("TCP receiver: ACK policy (RFC 5681 §4.2, RFC 9293 §3.8.6.3)")
struct AckPolicyTests {
    @Test("Quick-ACK: the first segments of a connection are acknowledged at once")
    func quickAcksAtStart() {
        var policy = AckPolicy(delay: 40_000_000, quickAcks: 2, initialSegmentSize: 536)
        let r1 = policy.inOrderData(length: 1000, now: .zero)
        #expect(r1)
        policy.ackSent()
        let r2 = policy.inOrderData(length: 1000, now: .zero)
        #expect(r2)
        policy.ackSent()
        let r3 = policy.inOrderData(length: 1000, now: .zero)
        #expect(!r3, "delayed from the third segment on")
        #expect(policy.deadline == NetInstant.zero + .milliseconds(40))
    }

    @Test("RFC 5681 §4.2: an ACK for at least every second full-sized segment")
    func everySecondFullSegment() {
        var policy = AckPolicy(delay: 40_000_000, quickAcks: 0, initialSegmentSize: 536)
        let r4 = policy.inOrderData(length: 1400, now: .zero)
        #expect(!r4)
        let r5 = policy.inOrderData(length: 1400, now: .zero)
        #expect(r5)
        policy.ackSent()
        #expect(policy.deadline == nil)
        // Small segments do not count as full-sized once larger ones were seen.
        let r6 = policy.inOrderData(length: 700, now: .zero)
        #expect(!r6)
        let r7 = policy.inOrderData(length: 700, now: .zero)
        #expect(!r7)
        let r8 = policy.inOrderData(length: 1400, now: .zero)
        #expect(r8)
    }

    @Test("RFC 9293 §3.8.6.3: a lone segment is acknowledged when the delayed-ACK timer expires")
    func delayedAckTimer() {
        var policy = AckPolicy(delay: 40_000_000, quickAcks: 0, initialSegmentSize: 536)
        let r9 = policy.inOrderData(length: 64, now: .zero)
        #expect(!r9)
        let r10 = policy.timerExpired(now: NetInstant.zero + .milliseconds(39))
        #expect(!r10)
        let r11 = policy.timerExpired(now: NetInstant.zero + .milliseconds(40))
        #expect(r11)
    }

    @Test("Stretch ACKs: with an RTT estimate, in-order data is acknowledged every fourth full-sized segment")
    func stretchAcksEveryFourthSegment() {
        var policy = AckPolicy(delay: 40_000_000, quickAcks: 0, initialSegmentSize: 1000, stretchSegments: 4)
        let rtt: Int64 = 400_000
        var due: [Bool] = []
        for _ in 0..<8 {
            due.append(policy.inOrderData(length: 1000, now: .zero, rtt: rtt))
            if due.last == true { policy.ackSent() }
        }
        #expect(due == [false, false, false, true, false, false, false, true])
    }

    @Test("Stretch ACKs: after the second full-sized segment the ACK waits a quarter of the RTT, at most 1 ms")
    func stretchAckWaitsAQuarterRTT() {
        var policy = AckPolicy(delay: 40_000_000, quickAcks: 0, initialSegmentSize: 1000, stretchSegments: 4)
        let rtt: Int64 = 400_000
        _ = policy.inOrderData(length: 1000, now: .zero, rtt: rtt)
        #expect(policy.deadline == NetInstant.zero + .milliseconds(40), "one segment: the delayed-ACK timer")
        let second = policy.inOrderData(length: 1000, now: NetInstant(nanoseconds: 10_000), rtt: rtt)
        #expect(!second)
        #expect(policy.deadline == NetInstant(nanoseconds: 10_000 + rtt / 4))
        let r101 = policy.timerExpired(now: NetInstant(nanoseconds: 10_000 + rtt / 4 - 1))
        #expect(!r101)
        let r102 = policy.timerExpired(now: NetInstant(nanoseconds: 10_000 + rtt / 4))
        #expect(r102)
        policy.ackSent()
        #expect(policy.deadline == nil)
        // A 100 ms path: 1 ms, not 25 ms (well under HyStart++'s 4 ms RTT threshold).
        for _ in 0..<2 { _ = policy.inOrderData(length: 1000, now: .zero, rtt: 100_000_000) }
        #expect(policy.deadline == NetInstant.zero + .milliseconds(1))
    }

    @Test("RFC 5681 §4.2: without an RTT estimate, or with stretch ACKs off, every second full-sized segment")
    func noStretchWithoutRTT() {
        var policy = AckPolicy(delay: 40_000_000, quickAcks: 0, initialSegmentSize: 1000, stretchSegments: 4)
        let r103 = policy.inOrderData(length: 1000, now: .zero, rtt: nil)
        #expect(!r103)
        let r104 = policy.inOrderData(length: 1000, now: .zero, rtt: nil)
        #expect(r104)
        var plain = AckPolicy(delay: 40_000_000, quickAcks: 0, initialSegmentSize: 1000, stretchSegments: 2)
        let r105 = plain.inOrderData(length: 1000, now: .zero, rtt: 400_000)
        #expect(!r105)
        let r106 = plain.inOrderData(length: 1000, now: .zero, rtt: 400_000)
        #expect(r106)
    }

    @Test("RFC 5681 §4.2: out-of-order data and data that fills a hole are acknowledged at once")
    func outOfOrderImmediate() {
        var receiver = TCPReceiver(bufferSize: 1 << 20, delayedAck: 40_000_000, quickAcks: 0, mss: 1000)
        let nxt = SequenceNumber(100)
        let r12 = receiver.receive(seq: nxt + 1000, offset: 1000, length: 1000, rcvNxt: nxt, now: .zero)
        #expect(r12
            == .stored(ready: 0, ackNow: true))
        let r13 = receiver.receive(seq: nxt, offset: 0, length: 1000, rcvNxt: nxt, now: .zero)
        #expect(r13
            == .stored(ready: 2000, ackNow: true))
    }

    @Test("RFC 9293 §3.10.7.4: the out-of-order queue holds one range per segment up to the buffer's worth, not a small constant")
    func reassemblyBoundedByBuffer() {
        var receiver = TCPReceiver(bufferSize: 1 << 20, delayedAck: 40_000_000, quickAcks: 0, mss: 1000)
        let nxt = SequenceNumber(0)
        // 500 holes (every other 1000-byte segment of a 1 MB window lost).
        for i in 0..<500 {
            let offset = 2000 * i + 1000
            let r14 = receiver.receive(seq: nxt + offset, offset: offset, length: 1000, rcvNxt: nxt, now: .zero)
            #expect(r14
                == .stored(ready: 0, ackNow: true))
        }
        #expect(receiver.reassembly.ranges.count == 500)
    }
}

@Suite("TCP receiver: SACK blocks (RFC 2018 §4, RFC 2883 §4)")
struct SACKBlockListTests {
    @Test("RFC 2018 §4: blocks follow arrival recency, report whole held ranges and skip delivered data")
    func recencyOrder() {
        var assembler = SegmentAssembler(maxRanges: 16)
        var list = SACKBlockList()
        let nxt = SequenceNumber(1000)
        for offset in [1000, 5000, 3000] {
            _ = assembler.add(start: offset, end: offset + 500)
            list.noteArrival(nxt + offset, rcvNxt: nxt, assembler: assembler)
        }
        let blocks = list.blocks(rcvNxt: nxt, assembler: assembler, limit: 4)
        #expect(blocks.map(\.left) == [4000, 6000, 2000])
        // More blocks held than room: the most recent ones win.
        let r15 = list.blocks(rcvNxt: nxt, assembler: assembler, limit: 2)
        #expect(r15.map(\.left) == [4000, 6000])
    }

    @Test("RFC 2018 §4: after the first block come the most recently reported blocks, even when a run of segments extended the first")
    func laterBlocksRepeatReportedOnes() {
        var assembler = SegmentAssembler(maxRanges: 16)
        var list = SACKBlockList()
        let nxt = SequenceNumber(1000)
        func arrive(_ offset: Int) {
            _ = assembler.add(start: offset, end: offset + 500)
            list.noteArrival(nxt + offset, rcvNxt: nxt, assembler: assembler)
        }
        // Blocks D (7000), A (1000), B (3000), C (5000) reported in that order, then three more segments
        // extend C: each ACK's first block is C, and B and A — reported after D — follow it.
        for offset in [7000, 1000, 3000, 5000, 5500, 6000] { arrive(offset) }
        let blocks = list.blocks(rcvNxt: nxt, assembler: assembler, limit: 3)
        #expect(blocks.map(\.left) == [6000, 4000, 2000])
        #expect(blocks.map(\.right) == [7500, 4500, 2500])
        // With room for a fourth, D follows.
        #expect(list.blocks(rcvNxt: nxt, assembler: assembler, limit: 4).map(\.left) == [6000, 4000, 2000, 8000])
    }

    @Test("RFC 2883 §4: a D-SACK is sent once, before the other blocks")
    func duplicateFirstAndOnce() {
        var assembler = SegmentAssembler(maxRanges: 16)
        var list = SACKBlockList()
        let nxt = SequenceNumber(1000)
        _ = assembler.add(start: 2000, end: 3000)
        list.noteArrival(nxt + 2000, rcvNxt: nxt, assembler: assembler)
        list.noteDuplicate(left: SequenceNumber(500), right: SequenceNumber(900))
        let r16 = list.blocks(rcvNxt: nxt, assembler: assembler, limit: 3)
        #expect(r16.map(\.left) == [500, 3000])
        let r17 = list.blocks(rcvNxt: nxt, assembler: assembler, limit: 3)
        #expect(r17.map(\.left) == [3000])
    }
}
