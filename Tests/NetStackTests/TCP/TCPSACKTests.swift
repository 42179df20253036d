import Testing
import Wire
@testable import NetStack

/// SACK on a connection: negotiation (RFC 2018 §2), block generation (RFC 2018 §4, RFC 2883 §4) and
/// SACK-based loss recovery (RFC 6675), with exact segments as the other per-state suites.
@Suite("TCP SACK")
struct TCPSACKTests {
    let una = localISS + 1
    let rcv = remoteISS + 1

    func sackConfiguration() -> TCPConfiguration { fixtureConfiguration(sack: true) }

    func block(_ left: SequenceNumber, _ right: SequenceNumber) -> TCPSACKBlock {
        TCPSACKBlock(left: left.rawValue, right: right.rawValue)
    }

    /// ESTABLISHED with SACK negotiated.
    func established() -> TCPFixture {
        let f = TCPFixture.synSent(sackConfiguration())
        var synAck = seg(remoteISS, ack: localISS + 1, .syn, wnd: 8192)
        synAck.maxSegmentSize = 1000
        synAck.sackPermitted = true
        _ = f.receive(synAck)
        #expect(f.state == .established)
        #expect(f.connection.selectiveAcknowledgmentsEnabled)
        return f
    }

    @Test("RFC 2018 §2: a SYN carries SACK-permitted when SACK is configured")
    func synOffersSack() {
        let f = TCPFixture(TCPConnection(activeOpenWith: sackConfiguration(), iss: localISS, now: .zero))
        let syn = f.drain()
        #expect(syn.count == 1 && syn[0].sackPermitted)
    }

    @Test("RFC 2018 §2: a SYN,ACK carries SACK-permitted only if the SYN did; without it SACK is off")
    func synAckEchoesSackPermitted() {
        var syn = seg(remoteISS, .syn, wnd: 8192)
        syn.sackPermitted = true
        let with = TCPFixture.synReceived(sackConfiguration(), syn: syn)
        #expect(with.connection.selectiveAcknowledgmentsEnabled)
        let plain = TCPFixture(
            TCPConnection(passiveOpenFrom: seg(remoteISS, .syn, wnd: 8192), configuration: sackConfiguration(), iss: localISS, now: .zero)!)
        let synAck = plain.drain()
        #expect(synAck.count == 1 && !synAck[0].sackPermitted)
        #expect(!plain.connection.selectiveAcknowledgmentsEnabled)
    }

    @Test("RFC 2018 §4: the first SACK block holds the most recently received segment, then earlier blocks")
    func mostRecentBlockFirst() {
        let f = established()
        var ack1 = seg(una, ack: rcv, [])
        ack1.sackBlocks = [block(rcv + 1000, rcv + 2000)]
        #expect(f.receive(seg(rcv + 1000, ack: una, []), payload: bytes(1000)) == [ack1])
        var ack2 = seg(una, ack: rcv, [])
        ack2.sackBlocks = [block(rcv + 3000, rcv + 4000), block(rcv + 1000, rcv + 2000)]
        #expect(f.receive(seg(rcv + 3000, ack: una, []), payload: bytes(1000)) == [ack2])
        // Data adjacent to the first block extends it; it becomes the first block again.
        var ack3 = seg(una, ack: rcv, [])
        ack3.sackBlocks = [block(rcv + 1000, rcv + 2500), block(rcv + 3000, rcv + 4000)]
        #expect(f.receive(seg(rcv + 2000, ack: una, []), payload: bytes(500)) == [ack3])
        // Filling the first hole: an immediate ACK whose blocks report only what is still held.
        var ack4 = seg(una, ack: rcv + 2500, [], wnd: 5692)
        ack4.sackBlocks = [block(rcv + 3000, rcv + 4000)]
        #expect(f.receive(seg(rcv, ack: una, []), payload: bytes(1000)) == [ack4])
    }

    @Test("RFC 2883 §4: a duplicate segment is reported once as a D-SACK first block")
    func duplicateSack() {
        let f = established()
        _ = f.receive(seg(rcv, ack: una, []), payload: bytes(1000))
        _ = f.advance(.milliseconds(40))
        var dsack = seg(una, ack: rcv + 1000, [], wnd: 7192)
        dsack.sackBlocks = [block(rcv, rcv + 1000)]
        #expect(f.receive(seg(rcv, ack: una, []), payload: bytes(1000)) == [dsack])
        // Reported once: the next ACK has no blocks.
        #expect(f.receive(seg(rcv + 1000, ack: una, []), payload: bytes(1000)).allSatisfy { $0.sackBlocks.isEmpty })
    }

    @Test("RFC 2883 §4 (2): a duplicate of held out-of-order data is followed by the block that holds it")
    func duplicateSackOfHeldData() {
        let f = established()
        _ = f.receive(seg(rcv + 1000, ack: una, []), payload: bytes(2000))
        var dsack = seg(una, ack: rcv, [])
        dsack.sackBlocks = [block(rcv + 1000, rcv + 2000), block(rcv + 1000, rcv + 3000)]
        #expect(f.receive(seg(rcv + 1000, ack: una, []), payload: bytes(1000)) == [dsack])
    }

    @Test("RFC 2018 §3 / RFC 9293 §3.7.1: with timestamps at most three blocks are sent")
    func threeBlocksWithTimestamps() {
        var config = sackConfiguration()
        config.timestamps = true
        let f = TCPFixture.synSent(config)
        var synAck = seg(remoteISS, ack: localISS + 1, .syn, wnd: 8192)
        synAck.maxSegmentSize = 1000
        synAck.sackPermitted = true
        synAck.timestamps = TCPTimestamps(value: 1, echoReply: 0)
        _ = f.receive(synAck)
        var last: [TCPSegmentHeader] = []
        for i in 0..<4 {
            var data = seg(rcv + 1000 + 1000 * i, ack: una, [])
            data.timestamps = TCPTimestamps(value: 2, echoReply: 0)
            last = f.receive(data, payload: bytes(500))
        }
        #expect(last.count == 1 && last[0].sackBlocks.count == 3)
        #expect(last[0].sackBlocks.first == block(rcv + 4000, rcv + 4500))
    }

    @Test("RFC 7323 §5.3 / RFC 2883 §4: an old segment that PAWS drops (the late original after its retransmission) is reported in a D-SACK")
    func rfc7323Section5_3PAWSDuplicateGetsDSACK() {
        var config = sackConfiguration()
        config.timestamps = true
        let f = TCPFixture.synSent(config)
        var synAck = seg(remoteISS, ack: localISS + 1, .syn, wnd: 8192)
        synAck.maxSegmentSize = 1000
        synAck.sackPermitted = true
        synAck.timestamps = TCPTimestamps(value: 1, echoReply: 0)
        _ = f.receive(synAck)
        // Segment 0 is held up; 1 arrives, then the retransmission of 0 (newer TSval) fills the hole.
        var one = seg(rcv + 1000, ack: una, [])
        one.timestamps = TCPTimestamps(value: 3, echoReply: 0)
        _ = f.receive(one, payload: bytes(1000))
        var retransmission = seg(rcv, ack: una, [])
        retransmission.timestamps = TCPTimestamps(value: 5, echoReply: 0)
        #expect(f.receive(retransmission, payload: bytes(1000)).last?.ack == rcv + 2000)
        // The original, TSval 2 < TS.Recent 5, arrives late: PAWS drops it, and the ACK says why.
        var original = seg(rcv, ack: una, [])
        original.timestamps = TCPTimestamps(value: 2, echoReply: 0)
        let reply = f.receive(original, payload: bytes(1000))
        #expect(reply.count == 1)
        #expect(reply.first?.ack == rcv + 2000)
        #expect(reply.first?.sackBlocks.first == block(rcv, rcv + 1000))
    }

    @Test("RFC 6675 §5: SACKs for more than 2·SMSS above the hole trigger its retransmission; §4 NextSeg resends the next lost range under cwnd − pipe")
    func sackRecoveryResendsHoles() {
        let f = established()
        _ = f.write(bytes(8000))
        #expect(f.drain().count == 8)
        // The ACKs come one 10 ms round trip later (RACK, RFC 8985 §6.2, waits RACK.rtt + reo_wnd).
        f.now = f.now + 10_000_000
        // Segments 1 and 3 (of 0...7) are lost; the peer SACKs 2 and then 4...7.
        var a = seg(rcv, ack: una + 1000, [])
        a.sackBlocks = [block(una + 2000, una + 3000)]
        #expect(f.receive(a).isEmpty)
        a.sackBlocks = [block(una + 4000, una + 5000), block(una + 2000, una + 3000)]
        #expect(f.receive(a).isEmpty)
        a.sackBlocks = [block(una + 4000, una + 6000), block(una + 2000, una + 3000)]
        // 3000 bytes SACKed above 1000: IsLost(1000); also 2000 SACKed above 3000 is not yet > 2·SMSS.
        let out = f.receive(a)
        #expect(out == [seg(una + 1000, ack: rcv, [], len: 1000)])
        #expect(f.connection.sender.inRecovery)
        a.sackBlocks = [block(una + 4000, una + 7000), block(una + 2000, una + 3000)]
        // Now 3000 bytes above 3000: the second hole is lost too and resent.
        #expect(f.receive(a) == [seg(una + 3000, ack: rcv, [], len: 1000)])
        // The cumulative ACK covers everything: recovery ends.
        _ = f.receive(seg(rcv, ack: una + 8000, []))
        #expect(!f.connection.sender.inRecovery)
    }

    @Test("RFC 6675 §5.1: after a timeout, data the peer SACKed is not sent again")
    func timeoutSkipsSackedData() {
        let f = established()
        _ = f.write(bytes(4000))
        #expect(f.drain().count == 4)
        f.now = f.now + 10_000_000
        var a = seg(rcv, ack: una, [])
        a.sackBlocks = [block(una + 1000, una + 3000)]
        // RACK (RFC 8985 §6.2; the fixture's SRTT is 0, so reo_wnd is 0) finds [0, 1000) lost at once:
        // recovery resends it...
        #expect(f.receive(a) == [seg(una, ack: rcv, [], len: 1000)])
        #expect(f.connection.sender.inRecovery)
        // ...the recovery probe resends it once more...
        #expect(f.advanceToDeadline() == [seg(una, ack: rcv, [], len: 1000)])
        // ...then the RTO: resend [0, 1000), then skip to 3000.
        #expect(f.advanceToDeadline() == [seg(una, ack: rcv, [], len: 1000)])
        #expect(!f.connection.sender.inRecovery)
        // Its ACK still SACKs [1000, 3000): the go-back-N resumes at 3000.
        let ack = seg(rcv, ack: una + 1000, []).with { $0.sackBlocks = [block(una + 1000, una + 3000)] }
        #expect(f.receive(ack) == [seg(una + 3000, ack: rcv, .psh, len: 1000)])
    }

    @Test("RFC 8985 §7.2-7.3: with data outstanding, the PTO (2·SRTT + 2 ms) sends new data if the peer's window allows, ignoring cwnd; then the RTO is armed")
    func tailLossProbeSendsNewData() {
        let f = established()
        // Fill the peer's window: 8 full-sized segments and the 192-byte tail (Minshall's Nagle sends a
        // short tail while no other short segment is in flight).
        _ = f.write(bytes(8192))
        #expect(f.drain().count == 9)
        #expect(f.connection.sender.probeDeadline == f.now + .milliseconds(2))
        _ = f.receive(seg(rcv, ack: una + 1000, [], wnd: 16384))
        _ = f.write(bytes(1000))
        let sent = f.drain()
        _ = sent
        let deadline = f.connection.sender.probeDeadline
        #expect(deadline != nil)
        #expect(f.connection.nextDeadline == deadline)
        let probe = f.advanceToDeadline()
        #expect(probe.count == 1)
        #expect(f.connection.sender.tailLossProbes == 1)
        #expect(f.connection.sender.probeDeadline == nil, "one probe until an ACK advances SND.UNA")
    }
}

extension TCPSegmentHeader {
    func with(_ change: (inout TCPSegmentHeader) -> Void) -> TCPSegmentHeader {
        var copy = self
        change(&copy)
        return copy
    }
}
