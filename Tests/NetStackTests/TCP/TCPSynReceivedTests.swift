import Testing
import Wire
@testable import NetStack

@Suite("TCP SYN-RECEIVED")
struct TCPSynReceivedTests {
    @Test("RFC 9293 §3.10.7.2 LISTEN SYN: send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; RFC 7323 options only if offered")
    func passiveOpenSendsSynAck() {
        let config = fixtureConfiguration(buffer: 1 << 20, timestamps: true, windowScaling: true)
        // Without options in the SYN: no WS, no TS in the SYN,ACK.
        let plain = TCPFixture(
            TCPConnection(passiveOpenFrom: seg(remoteISS, .syn), configuration: config, iss: localISS, now: .zero)!)
        var expected = seg(localISS, ack: remoteISS + 1, .syn, wnd: 65535)
        expected.maxSegmentSize = 1000
        #expect(plain.drain() == [expected])
        // With both options: both echoed.
        var syn = seg(remoteISS, .syn)
        syn.windowScale = 7
        syn.timestamps = TCPTimestamps(value: 42, echoReply: 0)
        let full = TCPFixture(
            TCPConnection(passiveOpenFrom: syn, configuration: config, iss: localISS, now: .zero, timestampOffset: 9)!)
        expected.windowScale = 5
        expected.timestamps = TCPTimestamps(value: 9, echoReply: 42)
        #expect(full.drain() == [expected])
        #expect(full.connection.send.scale == 7)
        // 536 default peer MSS less 12 bytes of timestamps (RFC 9293 §3.7.1, RFC 7323 §3).
        #expect(full.connection.effectiveMSS == 524)
    }

    @Test("A peer MSS below 48 is raised to 48 (Linux tcp_min_snd_mss, CVE-2019-11479): no 1-byte segments")
    func tinyPeerMSSIsRaised() {
        let config = fixtureConfiguration(buffer: 1 << 20, timestamps: true, windowScaling: true)
        // (announced MSS, timestamps, effective MSS): the announced MSS is floored at 48, then 12 bytes
        // of timestamps come off (as Linux's tcp_min_snd_mss and tcp_mtu_to_mss do).
        for (announced, timestamps, expected) in [(0, false, 48), (1, true, 36), (59, true, 47), (61, true, 49), (536, false, 536)] {
            var syn = seg(remoteISS, .syn)
            syn.maxSegmentSize = UInt16(announced)
            if timestamps { syn.timestamps = TCPTimestamps(value: 42, echoReply: 0) }
            let f = TCPFixture(TCPConnection(passiveOpenFrom: syn, configuration: config, iss: localISS, now: .zero)!)
            #expect(f.connection.effectiveMSS == expected, "announced \(announced), timestamps \(timestamps)")
        }
        // MSS 0: 200 bytes leave in segments of 48, not 200 segments of 1 byte.
        var syn = seg(remoteISS, .syn, wnd: 65535)
        syn.maxSegmentSize = 0
        let f = TCPFixture(TCPConnection(passiveOpenFrom: syn, configuration: config, iss: localISS, now: .zero)!)
        _ = f.drain()
        #expect(f.receive(seg(remoteISS + 1, ack: localISS + 1, [], wnd: 65535)).isEmpty)
        #expect(f.write(bytes(200)) == 200)
        let sent = f.drain().map(\.payloadLength).filter { $0 > 0 }
        #expect(sent.first == 48)
        #expect(sent.allSatisfy { $0 <= 48 })
    }

    @Test("RFC 9293 §3.10.7.4 fifth: SND.UNA < SEG.ACK =< SND.NXT in SYN-RECEIVED enters ESTABLISHED")
    func acceptableAckEstablishes() {
        let f = TCPFixture.synReceived()
        #expect(f.receive(seg(remoteISS + 1, ack: localISS + 1, [], wnd: 4000)).isEmpty)
        #expect(f.state == .established)
        #expect(f.events.contains(.established))
        #expect(f.connection.send.window == 4000)
    }

    @Test("RFC 9293 §3.10.7.4 fifth: an unacceptable ACK in SYN-RECEIVED gets <SEQ=SEG.ACK><CTL=RST>")
    func unacceptableAckGetsReset() {
        let f = TCPFixture.synReceived()
        let out = f.receive(seg(remoteISS + 1, ack: localISS + 50, []))
        #expect(out == [TCPSegmentHeader(seq: localISS + 50, control: .rst)])
        #expect(f.state == .synReceived)
    }

    @Test("RFC 5961 §3.2: RST with SEG.SEQ = RCV.NXT in SYN-RECEIVED closes the connection")
    func exactResetCloses() {
        let f = TCPFixture.synReceived()
        #expect(f.receive(seg(remoteISS + 1, .rst, wnd: 0)).isEmpty)
        #expect(f.state == .closed)
    }

    @Test("A retransmitted SYN in SYN-RECEIVED gets the SYN,ACK again")
    func retransmittedSynGetsSynAck() {
        let f = TCPFixture.synReceived()
        var syn = seg(remoteISS, .syn)
        syn.maxSegmentSize = 1000
        var synAck = seg(localISS, ack: remoteISS + 1, .syn)
        synAck.maxSegmentSize = 1000
        #expect(f.receive(syn) == [synAck])
    }

    @Test("RFC 6298 §5.4: an unacknowledged SYN,ACK is retransmitted when the RTO expires")
    func synAckRetransmitted() {
        let f = TCPFixture.synReceived()
        var synAck = seg(localISS, ack: remoteISS + 1, .syn)
        synAck.maxSegmentSize = 1000
        #expect(f.advance(.seconds(1)) == [synAck])
    }

    @Test("RFC 9293 §3.10.7.4: data on the handshake-completing ACK is delivered")
    func dataWithThirdAck() {
        let f = TCPFixture.synReceived()
        let out = f.receive(seg(remoteISS + 1, ack: localISS + 1, .psh), payload: bytes(100))
        #expect(out.isEmpty)  // delayed ACK
        #expect(f.state == .established)
        #expect(f.read() == bytes(100))
    }
}
