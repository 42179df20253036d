import Testing
import Wire
@testable import NetStack

@Suite("TCP ESTABLISHED")
struct TCPEstablishedTests {
    let una = localISS + 1
    let rcv = remoteISS + 1

    @Test("RFC 9293 §3.8.6.3: one in-order segment is ACKed after the delayed-ACK timeout")
    func delayedAck() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv, ack: una, .psh), payload: bytes(500)).isEmpty)
        #expect(f.events.contains(.readable))
        #expect(f.connection.nextDeadline == f.now + .milliseconds(40))
        #expect(f.advance(.milliseconds(40)) == [seg(una, ack: rcv + 500, [], wnd: 7692)])
        #expect(f.read() == bytes(500))
    }

    @Test("RFC 5681 §4.2: every second full-sized segment is ACKed immediately")
    func ackEverySecondSegment() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv, ack: una, []), payload: bytes(1000)).isEmpty)
        #expect(f.receive(seg(rcv + 1000, ack: una, []), payload: bytes(1000, from: 1000))
            == [seg(una, ack: rcv + 2000, [], wnd: 6192)])
    }

    @Test("RFC 5681 §4.2 / RFC 9293 §3.10.7.4: out-of-order data is ACKed at once and reassembled")
    func outOfOrderReassembly() {
        let f = TCPFixture.established()
        let data = bytes(3000)
        // Second and third segments first: duplicate ACKs for RCV.NXT.
        #expect(f.receive(seg(rcv + 1000, ack: una, []), payload: Array(data[1000..<2000]))
            == [seg(una, ack: rcv, [])])
        #expect(f.receive(seg(rcv + 2000, ack: una, []), payload: Array(data[2000..<3000]))
            == [seg(una, ack: rcv, [])])
        #expect(f.connection.readableBytes == 0)
        // Filling the hole is ACKed immediately up to the end of the held data.
        #expect(f.receive(seg(rcv, ack: una, []), payload: Array(data[0..<1000]))
            == [seg(una, ack: rcv + 3000, [], wnd: 5192)])
        #expect(f.read() == data)
    }

    @Test("RFC 9293 §3.10.7.4 first: an unacceptable segment gets <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>")
    func unacceptableSegmentGetsAck() {
        let f = TCPFixture.established()
        // Entirely old data.
        #expect(f.receive(seg(rcv - 100, ack: una, []), payload: bytes(50)) == [seg(una, ack: rcv, [])])
        // Beyond the window.
        #expect(f.receive(seg(rcv + 9000, ack: una, []), payload: bytes(50)) == [seg(una, ack: rcv, [])])
        #expect(f.connection.readableBytes == 0)
    }

    @Test("RFC 5961 §3.2: RST in the window but not at RCV.NXT gets a challenge ACK")
    func resetInWindowChallenged() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv + 10, .rst, wnd: 0)) == [seg(una, ack: rcv, [])])
        #expect(f.state == .established)
    }

    @Test("RFC 5961 §3.2: RST with SEG.SEQ = RCV.NXT resets the connection")
    func exactResetResets() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv, .rst, wnd: 0)).isEmpty)
        #expect(f.state == .closed)
        #expect(f.connection.error == .connectionReset)
    }

    @Test("RFC 9293 §3.10.7.4 first: RST outside the window is dropped silently")
    func resetOutOfWindowDropped() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv + 100_000, .rst, wnd: 0)).isEmpty)
        #expect(f.state == .established)
    }

    @Test("RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK")
    func synGetsChallengeAck() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv + 5, .syn)) == [seg(una, ack: rcv, [])])
        #expect(f.state == .established)
    }

    @Test("RFC 5961 §7: challenge ACKs are rate-limited per second")
    func challengeAcksRateLimited() {
        let f = TCPFixture.established()
        var sent = 0
        for _ in 0..<25 { sent += f.receive(seg(rcv + 5, .syn)).count }
        #expect(sent == 10)
        _ = f.advance(.seconds(1))
        #expect(f.receive(seg(rcv + 5, .syn)).count == 1)
    }

    @Test("RFC 9293 §3.10.7.4 fifth / RFC 5961 §5.2: an ACK of unsent data gets an ACK and is dropped")
    func ackOfUnsentDataDropped() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv, ack: una + 10, []), payload: bytes(10)) == [seg(una, ack: rcv, [])])
        #expect(f.connection.readableBytes == 0)
    }

    @Test("RFC 9293 §3.8.6 / §3.7.4: data is cut into MSS segments within the peer's window")
    func sendsWithinWindow() {
        let f = TCPFixture.established()
        #expect(f.write(bytes(2500)) == 2500)
        let out = f.drain()
        // Nagle (Minshall's form) does not hold the 500-byte tail behind full-sized segments.
        #expect(out == [
            seg(una, ack: rcv, [], len: 1000),
            seg(una + 1000, ack: rcv, [], len: 1000),
            seg(una + 2000, ack: rcv, .psh, len: 500),
        ])
        #expect(f.sentPayload == bytes(2500))
    }

    @Test("RFC 9293 §3.7.4 Nagle: a small segment waits while data is unacknowledged")
    func nagleHoldsSmallSegment() {
        let f = TCPFixture.established()
        _ = f.write(bytes(100))
        #expect(f.drain() == [seg(una, ack: rcv, .psh, len: 100)])
        _ = f.write(bytes(100))
        #expect(f.drain().isEmpty)
        #expect(f.receive(seg(rcv, ack: una + 100, [])) == [seg(una + 100, ack: rcv, .psh, len: 100)])
    }

    @Test("RFC 6298 §5.4-5.6: retransmission on timeout with exponential backoff; RFC 9293 §3.8.3 R2 gives up")
    func retransmissionBackoffAndGiveUp() {
        let f = TCPFixture.established()
        _ = f.write(bytes(300))
        #expect(f.drain() == [seg(una, ack: rcv, .psh, len: 300)])
        // The handshake measured RTT 0, so RTO sits at the configured 200 ms floor (RFC 6298 §2.4).
        #expect(f.connection.nextDeadline == f.now + .milliseconds(200))
        let retransmit = [seg(una, ack: rcv, .psh, len: 300)]
        #expect(f.advanceToDeadline() == retransmit)
        #expect(f.now == .zero + .milliseconds(200))
        #expect(f.advanceToDeadline() == retransmit)
        #expect(f.now == .zero + .milliseconds(600))
        #expect(f.advanceToDeadline() == retransmit)
        #expect(f.advanceToDeadline() == retransmit)
        #expect(f.now == .zero + .milliseconds(3000))
        // maxRetransmissions = 4.
        #expect(f.advanceToDeadline().isEmpty)
        #expect(f.state == .closed)
        #expect(f.connection.error == .timedOut)
    }

    @Test("RFC 6298 §3 Karn: an ACK for a retransmitted segment gives no RTT sample")
    func karnSkipsRetransmittedSample() {
        let f = TCPFixture.established()
        _ = f.write(bytes(300))
        _ = f.drain()
        _ = f.advanceToDeadline()  // retransmission at 1 s
        _ = f.advance(.milliseconds(10))
        _ = f.receive(seg(rcv, ack: una + 300, []))
        // The handshake at t=0 gave SRTT = 0; the retransmitted segment adds no sample.
        #expect(f.connection.smoothedRTT == 0)
        // A fresh segment is timed.
        _ = f.write(bytes(10))
        _ = f.drain()
        _ = f.advance(.milliseconds(30))
        _ = f.receive(seg(rcv, ack: una + 310, []))
        let expectedSRTT: Int64 = 3_750_000  // SRTT = 7/8·0 + 1/8·30 ms
        #expect(f.connection.smoothedRTT == expectedSRTT)
    }

    @Test("RFC 5681 §3.2: the third duplicate ACK triggers a fast retransmission of SND.UNA")
    func fastRetransmit() {
        let f = TCPFixture.established()
        _ = f.write(bytes(5000))
        #expect(f.drain().count == 5)
        let dup = seg(rcv, ack: una + 1000, [])
        #expect(f.receive(seg(rcv, ack: una + 1000, [])).isEmpty)
        #expect(f.receive(dup).isEmpty)
        #expect(f.receive(dup).isEmpty)
        #expect(f.receive(dup) == [seg(una + 1000, ack: rcv, [], len: 1000)])
        #expect(f.connection.sender.inRecovery)
    }

    @Test("RFC 9293 §3.8.6.1: a zero window is probed with one octet, backing off, while data waits")
    func zeroWindowProbe() {
        let f = TCPFixture.established()
        _ = f.receive(seg(rcv, ack: una, [], wnd: 0))
        _ = f.write(bytes(100))
        #expect(f.drain().isEmpty)
        #expect(f.connection.nextDeadline == f.now + .milliseconds(200))
        #expect(f.advanceToDeadline() == [seg(una, ack: rcv, [], len: 1)])
        // Probe unanswered (window still closed): the same octet again after a doubled timeout.
        let before = f.now
        #expect(f.advanceToDeadline() == [seg(una, ack: rcv, [], len: 1)])
        #expect(f.now - before == 400_000_000)  // 200 ms doubled
        // The window opens with the probe octet acknowledged: the rest flows.
        #expect(f.receive(seg(rcv, ack: una + 1, [], wnd: 4000)) == [seg(una + 1, ack: rcv, .psh, len: 99)])
    }

    @Test("RFC 1122 §4.2.2.17 / RFC 9293 §3.8.6.1: a window kept closed while every probe is answered does not end the connection")
    func answeredZeroWindowProbesKeepTheConnection() {
        let f = TCPFixture.established()
        _ = f.receive(seg(rcv, ack: una, [], wnd: 0))
        _ = f.write(bytes(100))
        #expect(f.drain().isEmpty)
        // More probes than the retransmission limit, each answered: the peer is alive, its window closed.
        for _ in 0..<(f.connection.configuration.maxRetransmissions + 5) {
            #expect(f.advanceToDeadline() == [seg(una, ack: rcv, [], len: 1)])
            _ = f.receive(seg(rcv, ack: una, [], wnd: 0))
            #expect(f.state == .established)
        }
        #expect(f.connection.error == nil)
        // The window opens: the data flows.
        #expect(!f.receive(seg(rcv, ack: una + 1, [], wnd: 4000)).isEmpty)
    }

    @Test("RFC 9293 §3.10.7.4: with RCV.WND = 0 a probe is answered with an ACK; reading opens the window")
    func receiverZeroWindow() {
        let f = TCPFixture.established(fixtureConfiguration(buffer: 2000))
        _ = f.receive(seg(rcv, ack: una, []), payload: bytes(1000))
        #expect(f.receive(seg(rcv + 1000, ack: una, []), payload: bytes(1000)) == [seg(una, ack: rcv + 2000, [], wnd: 0)])
        // A zero-window probe is not accepted but is acknowledged.
        #expect(f.receive(seg(rcv + 2000, ack: una, []), payload: bytes(1)) == [seg(una, ack: rcv + 2000, [], wnd: 0)])
        // The application reads: a window update goes out.
        #expect(f.read().count == 2000)
        #expect(f.drain() == [seg(una, ack: rcv + 2000, [], wnd: 2000)])
    }

    @Test("RFC 7323 §5.3 PAWS: a segment with an old timestamp is dropped and ACKed")
    func pawsDropsOldSegment() {
        var config = fixtureConfiguration(timestamps: true)
        config.maxSegmentSize = 1000
        let f = TCPFixture.synSent(config)
        var synAck = seg(remoteISS, ack: localISS + 1, .syn)
        synAck.timestamps = TCPTimestamps(value: 500, echoReply: 0)
        _ = f.receive(synAck)
        #expect(f.state == .established)
        var old = seg(rcv, ack: una, [])
        old.timestamps = TCPTimestamps(value: 499, echoReply: 0)
        var expected = seg(una, ack: rcv, [])
        expected.timestamps = TCPTimestamps(value: 0, echoReply: 500)
        #expect(f.receive(old, payload: bytes(10)) == [expected])
        #expect(f.connection.readableBytes == 0)
        var fresh = old
        fresh.timestamps = TCPTimestamps(value: 501, echoReply: 0)
        _ = f.receive(fresh, payload: bytes(10))
        #expect(f.connection.readableBytes == 10)
    }

    @Test("RFC 7323 §2.3: windows are advertised and interpreted with the negotiated scale")
    func windowScaling() {
        let config = fixtureConfiguration(buffer: 1 << 20, windowScaling: true)
        let f = TCPFixture.synSent(config)
        var synAck = seg(remoteISS, ack: localISS + 1, .syn, wnd: 1000)
        synAck.windowScale = 3
        let out = f.receive(synAck)
        // The scale fits the 1 MiB buffer (5); the window offered first is the auto-tuned 64 KiB >> 5.
        #expect(out == [seg(una, ack: rcv, [], wnd: 2048)])
        _ = f.receive(seg(rcv, ack: una, [], wnd: 1000))
        #expect(f.connection.send.window == 8000)
    }

    @Test("RFC 1122 §4.2.3.6: keepalive probes <SEQ=SND.NXT-1> after idle, and the connection times out")
    func keepalive() {
        var config = fixtureConfiguration()
        config.keepalive = .init(idle: .seconds(10), interval: .seconds(2), count: 2)
        let f = TCPFixture.established(config)
        let probe = seg(una - 1, ack: rcv, [])
        #expect(f.advanceToDeadline() == [probe])
        #expect(f.now == .zero + .seconds(10))
        // An answer resets the idle timer.
        _ = f.receive(seg(rcv, ack: una, []))
        #expect(f.connection.nextDeadline == f.now + .seconds(10))
        #expect(f.advanceToDeadline() == [probe])
        #expect(f.advanceToDeadline() == [probe])
        #expect(f.advanceToDeadline().isEmpty)
        #expect(f.state == .closed)
        #expect(f.connection.error == .timedOut)
    }

    @Test("RFC 9293 §3.10.7.4 eighth: FIN moves ESTABLISHED to CLOSE-WAIT and is ACKed")
    func finEntersCloseWait() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv, ack: una, .fin), payload: bytes(10)) == [seg(una, ack: rcv + 11, [], wnd: 8181)])
        #expect(f.state == .closeWait)
        #expect(f.read() == bytes(10))
        #expect(f.connection.isAtEndOfStream)
    }

    @Test("RFC 9293 §3.10.7.4: a FIN that arrives out of order is processed once the gap fills")
    func outOfOrderFin() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv + 100, ack: una, .fin), payload: bytes(100, from: 100)) == [seg(una, ack: rcv, [])])
        #expect(f.state == .established)
        #expect(f.receive(seg(rcv, ack: una, []), payload: bytes(100)) == [seg(una, ack: rcv + 201, [], wnd: 7991)])
        #expect(f.state == .closeWait)
        #expect(f.read() == bytes(200))
    }

    @Test("RFC 9293 §3.10.4 CLOSE in ESTABLISHED: FIN after queued data, FIN-WAIT-1")
    func closeSendsFin() {
        let f = TCPFixture.established()
        _ = f.write(bytes(10))
        _ = f.connection.close(now: f.now)
        #expect(f.state == .finWait1)
        #expect(f.drain() == [seg(una, ack: rcv, [.psh, .fin], len: 10)])
    }

    @Test("RFC 1122 §4.2.2.13: close with unread data aborts with RST")
    func closeWithUnreadDataResets() {
        let f = TCPFixture.established()
        _ = f.receive(seg(rcv, ack: una, []), payload: bytes(10))
        #expect(f.connection.close(now: f.now) == .closed)
        #expect(f.drain() == [TCPSegmentHeader(seq: una, control: .rst)])
    }

    @Test("RFC 9293 §3.10.5 ABORT: send <SEQ=SND.NXT><CTL=RST>")
    func abortSendsReset() {
        let f = TCPFixture.established()
        #expect(f.connection.abort() == .closed)
        #expect(f.drain() == [TCPSegmentHeader(seq: una, control: .rst)])
        #expect(f.connection.error == .aborted)
    }

    @Test("Send buffer is bounded: writes beyond it are refused (backpressure)")
    func sendBackpressure() {
        let f = TCPFixture.established(fixtureConfiguration(buffer: 4096))
        #expect(f.write(bytes(10_000)) == 4096)
        #expect(f.connection.writableBytes == 0)
        _ = f.drain()
        _ = f.receive(seg(rcv, ack: una + 1000, []))
        #expect(f.events.contains(.writable))
        #expect(f.connection.writableBytes == 1000)
    }
}

extension TCPEstablishedTests {
    @Test("RFC 1122 §4.2.3.4: Nagle holds a small segment while data is unacknowledged, unless switched off per connection")
    func nagleSwitchablePerConnection() {
        let f = TCPFixture.established()
        _ = f.write(bytes(100))
        #expect(f.drain() == [seg(una, ack: rcv, .psh, len: 100)])
        _ = f.write(bytes(50))
        #expect(f.drain().isEmpty, "Nagle: 100 bytes are unacknowledged")
        f.connection.noDelay = true
        #expect(f.drain() == [seg(una + 100, ack: rcv, .psh, len: 50)])
    }
}
