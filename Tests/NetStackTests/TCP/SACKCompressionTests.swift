import Testing
import Wire
@testable import NetStack

/// SACK-ACK compression and quick-ACK re-entry (Linux `__tcp_ack_snd_check`, `tcp_sack_new_ofo_skb`,
/// `tcp_enter_quickack_mode`, `tcp_event_data_recv`), rule by rule on the receiver's parts, then on a
/// connection with the exact segments it sends.
@Suite("TCP receiver: SACK-ACK compression and quick-ACK re-entry")
struct SACKCompressionTests {
    static let ms: Int64 = 1_000_000
    static let rtt: Int64 = 10 * ms

    func at(_ nanoseconds: Int64) -> NetInstant { NetInstant(nanoseconds: nanoseconds) }

    @Test("Linux tcp_comp_sack / RFC 5681 §3.2: the first three out-of-order arrivals at one RCV.NXT are acknowledged at once, the fourth is held")
    func firstThreeAtOnce() {
        var c = SACKCompression()
        let nxt = SequenceNumber(1000)
        for k in 0..<3 {
            let r1 = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: Self.rtt)
            #expect(r1, "arrival \(k)")
        }
        let r2 = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: Self.rtt)
        #expect(!r2)
        #expect(c.held == 1)
    }

    @Test("Linux tcp_comp_sack_delay_ns: a held ACK waits 5 % of the RTT, at most 1 ms")
    func holdIsFivePercentOfRTTCappedAtOneMillisecond() {
        var c = SACKCompression()
        let nxt = SequenceNumber(1000)
        for _ in 0..<3 { _ = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: Self.rtt) }
        _ = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: Self.rtt)
        #expect(c.deadline == at(Self.rtt / 20))
        // More arrivals do not move the timer.
        _ = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: at(100_000), rtt: Self.rtt)
        #expect(c.deadline == at(Self.rtt / 20))
        let r3 = c.timerExpired(now: at(Self.rtt / 20 - 1))
        #expect(!r3)
        let r4 = c.timerExpired(now: at(Self.rtt / 20))
        #expect(r4)
        // On a 100 ms path the hold is 1 ms, not 5 ms.
        var long = SACKCompression()
        for _ in 0..<4 { _ = long.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: 100 * Self.ms) }
        #expect(long.deadline == at(SACKCompression.maximumDelay))
    }

    @Test("Linux tcp_comp_sack_nr: with 44 ACKs held the next out-of-order arrival is acknowledged at once")
    func atMostFortyFourHeld() {
        var c = SACKCompression()
        let nxt = SequenceNumber(1000)
        for _ in 0..<3 { _ = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: Self.rtt) }
        for k in 0..<44 {
            let r5 = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: Self.rtt)
            #expect(!r5, "held \(k)")
        }
        let r6 = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: Self.rtt)
        #expect(r6)
        c.ackSent()
        #expect(c.held == 0 && c.deadline == nil)
        // The three immediate ACKs belong to that RCV.NXT: after the ACK, arrivals are held again.
        let r7 = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: Self.rtt)
        #expect(!r7)
    }

    @Test("Linux compressed_ack_rcv_nxt: a new RCV.NXT gets three immediate ACKs again")
    func newReceivePointCountsAgain() {
        var c = SACKCompression()
        for _ in 0..<4 { _ = c.outOfOrderArrival(rcvNxt: SequenceNumber(1000), blockPosition: 0, now: .zero, rtt: Self.rtt) }
        for k in 0..<3 {
            let r8 = c.outOfOrderArrival(rcvNxt: SequenceNumber(3000), blockPosition: 0, now: .zero, rtt: Self.rtt)
            #expect(r8, "arrival \(k)")
        }
        let r9 = c.outOfOrderArrival(rcvNxt: SequenceNumber(3000), blockPosition: 0, now: .zero, rtt: Self.rtt)
        #expect(!r9)
    }

    @Test("Linux TCP_SACK_BLOCKS_EXPECTED: an arrival for a block past the first two reported sends what is held")
    func blockPastTheFirstTwoFlushes() {
        var c = SACKCompression()
        let nxt = SequenceNumber(1000)
        for _ in 0..<4 { _ = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: .zero, rtt: Self.rtt) }
        let r10 = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 1, now: .zero, rtt: Self.rtt)
        #expect(!r10)
        let r11 = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 2, now: .zero, rtt: Self.rtt)
        #expect(r11)
        // Nothing held: a third block is held like any other arrival.
        c.ackSent()
        let r12 = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 3, now: .zero, rtt: Self.rtt)
        #expect(!r12)
    }

    @Test("Without an RTT estimate the held ACK is due at once, with the caller's next output (one per batch)")
    func noRTTHoldsUntilTheBatchEnds() {
        var c = SACKCompression()
        let nxt = SequenceNumber(1000)
        for _ in 0..<4 { _ = c.outOfOrderArrival(rcvNxt: nxt, blockPosition: 0, now: at(5), rtt: nil) }
        #expect(c.deadline == at(5))
        let r13 = c.timerExpired(now: at(5))
        #expect(r13)
    }

    @Test("SACKBlockList reports where the arrival's block stood: extended, merged or new")
    func blockPositions() {
        var assembler = SegmentAssembler(maxRanges: 16)
        var list = SACKBlockList()
        let nxt = SequenceNumber(1000)
        func arrive(_ offset: Int, _ length: Int = 500) -> Int {
            _ = assembler.add(start: offset, end: offset + length)
            return list.noteArrival(nxt + offset, rcvNxt: nxt, assembler: assembler)
        }
        let r31 = arrive(1000)
        #expect(r31 == 0)  // new, the list was empty
        let r32 = arrive(3000)
        #expect(r32 == 1)  // new, after one block
        let r33 = arrive(5000)
        #expect(r33 == 2)  // new, after two
        let r34 = arrive(1500)
        #expect(r34 == 2)  // extends the block at 1000, now third in the list
        let r35 = arrive(2000, 1000)
        #expect(r35 == 0)  // joins 1000-2000 and 3000-3500: the first of them
    }

    // MARK: The ACK policy

    @Test("RFC 5681 §4.2: data that fills the last hole, or moves RCV.NXT, is acknowledged at once while ACKs are held")
    func filledHoleAtOnce() {
        var receiver = TCPReceiver(bufferSize: 1 << 20, delayedAck: 40 * Self.ms, quickAcks: 0, mss: 1000)
        receiver.enableSACK()
        let nxt = SequenceNumber(0)
        // Holes at 0 and 2000; four segments after the second hole: the fourth is held.
        var acks: [Bool] = []
        for offset in [1000, 3000, 4000, 5000] {
            let r = receiver.receive(seq: nxt + offset, offset: offset, length: 1000, rcvNxt: nxt, now: .zero, rtt: Self.rtt)
            if case .stored(_, let ackNow) = r { acks.append(ackNow) }
        }
        #expect(acks == [true, true, true, false])
        // The first hole fills (RCV.NXT moves, one hole remains): at once.
        let r14 = receiver.receive(seq: nxt, offset: 0, length: 1000, rcvNxt: nxt, now: .zero, rtt: Self.rtt)
        #expect(r14 == .stored(ready: 2000, ackNow: true))
        // The last hole fills: at once.
        let r15 = receiver.receive(seq: nxt + 2000, offset: 0, length: 1000, rcvNxt: nxt + 2000, now: .zero, rtt: Self.rtt)
        #expect(r15 == .stored(ready: 4000, ackNow: true))
    }

    @Test("RFC 5681 §4.2: without SACK every out-of-order segment is acknowledged at once (duplicate ACKs are all the sender has)")
    func withoutSACKNothingHeld() {
        var receiver = TCPReceiver(bufferSize: 1 << 20, delayedAck: 40 * Self.ms, quickAcks: 0, mss: 1000)
        for k in 1...8 {
            let offset = 1000 * k
            let r16 = receiver.receive(seq: SequenceNumber(UInt32(offset)), offset: offset, length: 500, rcvNxt: SequenceNumber(0), now: .zero, rtt: Self.rtt)
            #expect(r16 == .stored(ready: 0, ackNow: true), "segment \(k)")
        }
    }

    @Test("Quick-ACK mode acknowledges out-of-order data at once and uses a quick ACK for it")
    func quickModeBeforeCompression() {
        var receiver = TCPReceiver(bufferSize: 1 << 20, delayedAck: 40 * Self.ms, quickAcks: 5, mss: 1000)
        receiver.enableSACK()
        for k in 1...5 {
            let offset = 1000 * k
            let r17 = receiver.receive(seq: SequenceNumber(UInt32(offset)), offset: offset, length: 500, rcvNxt: SequenceNumber(0), now: .zero, rtt: Self.rtt)
            #expect(r17 == .stored(ready: 0, ackNow: true), "segment \(k)")
        }
        #expect(receiver.ackPolicy.quickAcksRemaining == 0)
        // Quick-ACK mode is over; quick ACKs do not count towards the three immediate ones (Linux sends
        // them before it looks at dup_ack_counter): three more, then held.
        for k in 6...8 {
            let offset = 1000 * k
            let r18 = receiver.receive(seq: SequenceNumber(UInt32(offset)), offset: offset, length: 500, rcvNxt: SequenceNumber(0), now: .zero, rtt: Self.rtt)
            #expect(r18 == .stored(ready: 0, ackNow: true), "segment \(k)")
        }
        let r19 = receiver.receive(seq: SequenceNumber(9000), offset: 9000, length: 500, rcvNxt: SequenceNumber(0), now: .zero, rtt: Self.rtt)
        #expect(r19 == .stored(ready: 0, ackNow: false))
    }

    @Test("Linux tcp_data_queue: after a segment received entirely before (our ACK was lost), the next in-order segments are acknowledged at once")
    func duplicateReentersQuickAck() {
        // A 16-segment window: half of it is 8 quick ACKs, capped at quickAcks = 2.
        var receiver = TCPReceiver(bufferSize: 16_000, delayedAck: 40 * Self.ms, quickAcks: 2, mss: 1000)
        var nxt = SequenceNumber(100)
        func segment(_ k: Int64) -> TCPReceiver.Arrival {
            defer { nxt += 1000 }
            return receiver.receive(seq: nxt, offset: 0, length: 1000, rcvNxt: nxt, now: at(k * Self.ms), rtt: Self.rtt, rto: 200 * Self.ms)
        }
        let r36 = segment(0)
        #expect(r36 == .stored(ready: 1000, ackNow: true))
        receiver.ackPolicy.ackSent()
        let r37 = segment(1)
        #expect(r37 == .stored(ready: 1000, ackNow: true))
        receiver.ackPolicy.ackSent()
        let r38 = segment(2)
        #expect(r38 == .stored(ready: 1000, ackNow: false), "quick-ACK mode is over")
        receiver.ackPolicy.ackSent()
        receiver.receiveDuplicate(seq: nxt - 1000, length: 1000)
        let r39 = segment(3)
        #expect(r39 == .stored(ready: 1000, ackNow: true))
        receiver.ackPolicy.ackSent()
        let r40 = segment(4)
        #expect(r40 == .stored(ready: 1000, ackNow: true))
        receiver.ackPolicy.ackSent()
        let r41 = segment(5)
        #expect(r41 == .stored(ready: 1000, ackNow: false))
        // A segment that only overlaps RCV.NXT does not re-enter it (Linux: a D-SACK for its head only).
        receiver.ackPolicy.ackSent()
        receiver.receiveDuplicate(seq: nxt - 500, length: 500, entirely: false)
        let r42 = segment(6)
        #expect(r42 == .stored(ready: 1000, ackNow: false))
    }

    @Test("Linux tcp_incr_quickack: re-entered quick-ACK mode covers half the window, at least two segments")
    func reentryBoundedByHalfTheWindow() {
        var policy = AckPolicy(delay: 40 * Self.ms, quickAcks: 16, initialSegmentSize: 1000)
        while policy.quickAcksRemaining > 0 { _ = policy.inOrderData(length: 1000, now: .zero) }
        policy.enterQuickAckMode(window: 6000)
        #expect(policy.quickAcksRemaining == 3)
        while policy.quickAcksRemaining > 0 { _ = policy.inOrderData(length: 1000, now: .zero) }
        policy.enterQuickAckMode(window: 1000)
        #expect(policy.quickAcksRemaining == 2)
        policy.enterQuickAckMode(window: 1 << 20)
        #expect(policy.quickAcksRemaining == 16)
    }

    @Test("Linux tcp_event_data_recv: data after a silence longer than the RTO is acknowledged at once (the sender restarts from one segment)")
    func silenceReentersQuickAck() {
        var receiver = TCPReceiver(bufferSize: 1 << 20, delayedAck: 40 * Self.ms, quickAcks: 1, mss: 1000)
        var nxt = SequenceNumber(100)
        let rto = 200 * Self.ms
        let r20 = receiver.receive(seq: nxt, offset: 0, length: 1000, rcvNxt: nxt, now: .zero, rto: rto)
        #expect(r20 == .stored(ready: 1000, ackNow: true))
        receiver.ackPolicy.ackSent()
        nxt += 1000
        // Within the RTO: delayed as usual.
        let r21 = receiver.receive(seq: nxt, offset: 0, length: 1000, rcvNxt: nxt, now: at(rto), rto: rto)
        #expect(r21 == .stored(ready: 1000, ackNow: false))
        receiver.ackPolicy.ackSent()
        nxt += 1000
        // More than an RTO of silence (the sender's retransmission timer fired): at once.
        let r22 = receiver.receive(seq: nxt, offset: 0, length: 1000, rcvNxt: nxt, now: at(2 * rto + 1), rto: rto)
        #expect(r22 == .stored(ready: 1000, ackNow: true))
    }

    @Test("Quick-ACK re-entry and compression can be switched off (to compare)")
    func switchedOff() {
        var policy = AckPolicy(delay: 40 * Self.ms, quickAcks: 16, initialSegmentSize: 1000, quickAckReentry: false, compression: false)
        while policy.quickAcksRemaining > 0 { _ = policy.inOrderData(length: 1000, now: .zero) }
        policy.enterQuickAckMode(window: 1 << 20)
        #expect(policy.quickAcksRemaining == 0)
        #expect(policy.compression == nil)
    }

    // MARK: On a connection

    /// ESTABLISHED with SACK and timestamps, a 10 ms RTT measured on the handshake.
    func established() -> TCPFixture {
        var config = fixtureConfiguration(buffer: 64_000, sack: true)
        config.timestamps = true
        config.sackCompression = true  // off by default until measured (TCPConfiguration)
        let f = TCPFixture.synSent(config)
        f.now = at(Self.rtt)
        var synAck = seg(remoteISS, ack: localISS + 1, .syn, wnd: 8192)
        synAck.maxSegmentSize = 1000
        synAck.sackPermitted = true
        synAck.timestamps = TCPTimestamps(value: 1, echoReply: 0)
        _ = f.receive(synAck)
        #expect(f.state == .established)
        #expect(f.connection.smoothedRTT == Self.rtt)
        return f
    }

    @Test("Linux tcp_comp_sack: three SACK ACKs at once, then one ACK with the blocks of its moment 5 % of the RTT later; the retransmission that fills the hole is acknowledged at once")
    func compressedOnAConnection() {
        let f = established()
        let rcv = remoteISS + 1
        func data(_ offset: Int) -> [TCPSegmentHeader] {
            var s = seg(rcv + offset, ack: localISS + 1, [])
            s.timestamps = TCPTimestamps(value: 2, echoReply: 0)
            return f.receive(s, payload: bytes(1000))
        }
        // Segment 0 is lost; 1 to 6 arrive back to back.
        for k in 1...3 {
            let acks = data(1000 * k)
            #expect(acks.count == 1 && acks.first?.ack == rcv, "segment \(k)")
            #expect(acks.first?.sackBlocks.first == TCPSACKBlock(left: (rcv + 1000).rawValue, right: (rcv + 1000 * (k + 1)).rawValue))
        }
        for k in 4...6 { #expect(data(1000 * k).isEmpty, "segment \(k) held") }
        #expect(f.connection.nextDeadline == f.now + Self.rtt / 20)
        let held = f.advance(.nanoseconds(Self.rtt / 20))
        #expect(held.count == 1)
        #expect(held.first?.ack == rcv)
        #expect(held.first?.sackBlocks.first == TCPSACKBlock(left: (rcv + 1000).rawValue, right: (rcv + 7000).rawValue))
        // Nothing more is held.
        #expect(f.advance(.milliseconds(1)).isEmpty)
        let filled = data(0)
        #expect(filled.count == 1 && filled.first?.ack == rcv + 7000)
        #expect(filled.first?.sackBlocks.isEmpty == true)
    }
}
