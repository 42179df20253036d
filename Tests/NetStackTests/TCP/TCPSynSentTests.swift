import Testing
import Wire
@testable import NetStack

@Suite("TCP SYN-SENT")
struct TCPSynSentTests {
    @Test("RFC 9293 §3.10.1 OPEN active: send <SEQ=ISS><CTL=SYN> with MSS, window scale and timestamps")
    func activeOpenSendsSynWithOptions() {
        var config = fixtureConfiguration(buffer: 1 << 20, timestamps: true, windowScaling: true)
        config.maxSegmentSize = 1460
        let f = TCPFixture(TCPConnection(activeOpenWith: config, iss: localISS, now: .zero, timestampOffset: 77))
        let out = f.drain()
        var expected = seg(localISS, .syn, wnd: 65535)
        expected.maxSegmentSize = 1460
        expected.windowScale = 5  // 1 MiB >> 5 = 32 KiB fits 16 bits (RFC 7323 §2.3)
        expected.timestamps = TCPTimestamps(value: 77, echoReply: 0)
        #expect(out == [expected])
        #expect(f.state == .synSent)
    }

    @Test("RFC 9293 §3.10.7.3: ACK =< ISS in SYN-SENT gets <SEQ=SEG.ACK><CTL=RST>")
    func unacceptableAckGetsReset() {
        let f = TCPFixture.synSent()
        let out = f.receive(seg(remoteISS, ack: localISS, .syn))
        #expect(out == [TCPSegmentHeader(seq: localISS, control: .rst)])
        #expect(f.state == .synSent)
    }

    @Test("RFC 9293 §3.10.7.3: RST with an acceptable ACK refuses the connection")
    func resetWithAcceptableAckRefuses() {
        let f = TCPFixture.synSent()
        let out = f.receive(seg(SequenceNumber(0), ack: localISS + 1, .rst, wnd: 0))
        #expect(out.isEmpty)
        #expect(f.state == .closed)
        #expect(f.connection.error == .connectionRefused)
        #expect(f.events.contains(.closed))
    }

    @Test("RFC 9293 §3.10.7.3 / RFC 5961 §3.2: RST without ACK in SYN-SENT is dropped")
    func resetWithoutAckIsDropped() {
        let f = TCPFixture.synSent()
        #expect(f.receive(seg(remoteISS, .rst, wnd: 0)).isEmpty)
        #expect(f.state == .synSent)
    }

    @Test("RFC 9293 §3.10.7.3: SYN,ACK moves to ESTABLISHED and sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>")
    func synAckEstablishes() {
        let f = TCPFixture.synSent()
        var synAck = seg(remoteISS, ack: localISS + 1, .syn, wnd: 6000)
        synAck.maxSegmentSize = 536
        let out = f.receive(synAck)
        #expect(out == [seg(localISS + 1, ack: remoteISS + 1, [])])
        #expect(f.state == .established)
        #expect(f.events.contains(.established))
        #expect(f.connection.effectiveMSS == 536)
        #expect(f.connection.send.window == 6000)
    }

    @Test("RFC 9293 §3.10.7.3: a SYN without ACK is a simultaneous open: SYN-RECEIVED and SYN,ACK")
    func simultaneousOpen() {
        let f = TCPFixture.synSent()
        var syn = seg(remoteISS, .syn)
        syn.maxSegmentSize = 1000
        let out = f.receive(syn)
        var synAck = seg(localISS, ack: remoteISS + 1, .syn)
        synAck.maxSegmentSize = 1000
        #expect(out == [synAck])
        #expect(f.state == .synReceived)
        // The peer's SYN,ACK acknowledges our SYN: ESTABLISHED.
        var peerSynAck = seg(remoteISS, ack: localISS + 1, .syn)
        peerSynAck.maxSegmentSize = 1000
        // It is a retransmitted SYN in the peer's view; the ACK completes our side.
        _ = f.receive(seg(remoteISS + 1, ack: localISS + 1, []))
        #expect(f.state == .established)
    }

    @Test("RFC 6298 §5.5 and RFC 9293 §3.8.3: SYN retransmitted with backoff, then the open fails")
    func synRetransmissionsAndGiveUp() {
        let f = TCPFixture.synSent()
        #expect(f.connection.nextDeadline == NetInstant.zero + .seconds(1))  // RFC 6298 §2.1
        var expectedSyn = seg(localISS, .syn)
        expectedSyn.maxSegmentSize = 1000
        #expect(f.advanceToDeadline() == [expectedSyn])
        #expect(f.now == NetInstant.zero + .seconds(1))
        #expect(f.advanceToDeadline() == [expectedSyn])
        #expect(f.now == NetInstant.zero + .seconds(3))
        #expect(f.advanceToDeadline() == [expectedSyn])
        #expect(f.now == NetInstant.zero + .seconds(7))
        // maxSynRetransmissions = 3: the next expiry ends the open.
        #expect(f.advanceToDeadline().isEmpty)
        #expect(f.state == .closed)
        #expect(f.connection.error == .timedOut)
    }

    @Test("RFC 9293 §3.10.4 CLOSE in SYN-SENT deletes the connection without sending")
    func closeInSynSent() {
        let f = TCPFixture.synSent()
        #expect(f.connection.close(now: f.now) == .closed)
        #expect(f.drain().isEmpty)
        #expect(f.state == .closed)
    }
}
