import Testing
@testable import NetStack
import Wire

/// FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK and TIME-WAIT fixtures.
@Suite("TCP closing states")
struct TCPClosingStateTests {
    let una = localISS + 1
    let rcv = remoteISS + 1

    /// FIN-WAIT-1 with our FIN (seq 1001) sent and unacknowledged.
    func finWait1() -> TCPFixture {
        let f = TCPFixture.established()
        f.connection.shutdownWrite()
        #expect(f.drain() == [seg(una, ack: rcv, .fin)])
        #expect(f.state == .finWait1)
        return f
    }

    func finWait2() -> TCPFixture {
        let f = finWait1()
        #expect(f.receive(seg(rcv, ack: una + 1, [])).isEmpty)
        #expect(f.state == .finWait2)
        return f
    }

    @Test("RFC 9293 §3.10.7.4 FIN-WAIT-1: the ACK of our FIN enters FIN-WAIT-2")
    func finWait1AckEntersFinWait2() {
        _ = finWait2()
    }

    @Test("RFC 9293 §3.10.7.4 FIN-WAIT-1: FIN with the ACK of our FIN enters TIME-WAIT")
    func finWait1FinAckEntersTimeWait() {
        let f = finWait1()
        #expect(f.receive(seg(rcv, ack: una + 1, .fin)) == [seg(una + 1, ack: rcv + 1, [], wnd: 8191)])
        #expect(f.state == .timeWait)
    }

    @Test("RFC 9293 §3.10.7.4 FIN-WAIT-1: a FIN not acknowledging ours is a simultaneous close: CLOSING")
    func simultaneousCloseEntersClosing() {
        let f = finWait1()
        #expect(f.receive(seg(rcv, ack: una, .fin)) == [seg(una + 1, ack: rcv + 1, [], wnd: 8191)])
        #expect(f.state == .closing)
        // RFC 9293 §3.10.7.4 CLOSING: the ACK of our FIN enters TIME-WAIT.
        #expect(f.receive(seg(rcv + 1, ack: una + 1, [])).isEmpty)
        #expect(f.state == .timeWait)
    }

    @Test("RFC 9293 §3.10.7.4 FIN-WAIT-1: an unacknowledged FIN is retransmitted on timeout")
    func finRetransmitted() {
        let f = finWait1()
        #expect(f.advanceToDeadline() == [seg(una, ack: rcv, .fin)])
    }

    @Test("RFC 9293 §3.10.7.4 FIN-WAIT-2: data is still accepted (half-close)")
    func finWait2AcceptsData() {
        let f = finWait2()
        _ = f.receive(seg(rcv, ack: una + 1, []), payload: bytes(1000))
        _ = f.receive(seg(rcv + 1000, ack: una + 1, []), payload: bytes(1000, from: 1000))
        #expect(f.read() == bytes(2000))
        #expect(f.state == .finWait2)
        #expect(f.connection.nextDeadline == nil)  // half-closed: wait for the peer indefinitely
    }

    @Test("RFC 9293 §3.10.7.4 FIN-WAIT-2: the peer's FIN enters TIME-WAIT and is ACKed")
    func finWait2FinEntersTimeWait() {
        let f = finWait2()
        #expect(f.receive(seg(rcv, ack: una + 1, .fin)) == [seg(una + 1, ack: rcv + 1, [], wnd: 8191)])
        #expect(f.state == .timeWait)
    }

    @Test("FIN-WAIT-2 after close() times out (Linux tcp_fin_timeout)")
    func finWait2TimeoutAfterClose() {
        let f = TCPFixture.established()
        _ = f.connection.close(now: f.now)
        _ = f.drain()
        _ = f.receive(seg(rcv, ack: una + 1, []))
        #expect(f.state == .finWait2)
        #expect(f.connection.nextDeadline == f.now + .seconds(5))
        _ = f.advanceToDeadline()
        #expect(f.state == .closed)
        #expect(f.connection.error == nil)
    }

    @Test("RFC 9293 §3.10.7.4 TIME-WAIT: a retransmitted FIN is ACKed and restarts the 2 MSL timer")
    func timeWaitRetransmittedFin() {
        let f = finWait2()
        _ = f.receive(seg(rcv, ack: una + 1, .fin))
        _ = f.advance(.seconds(1))
        #expect(f.receive(seg(rcv, ack: una + 1, .fin)) == [seg(una + 1, ack: rcv + 1, [], wnd: 8191)])
        #expect(f.connection.nextDeadline == f.now + .seconds(2))
        #expect(f.state == .timeWait)
    }

    @Test("RFC 1337: a RST, even at RCV.NXT, does not end TIME-WAIT")
    func timeWaitIgnoresReset() {
        let f = finWait2()
        _ = f.receive(seg(rcv, ack: una + 1, .fin))
        #expect(f.receive(seg(rcv + 1, .rst, wnd: 0)).isEmpty)
        #expect(f.state == .timeWait)
        #expect(!f.events.contains(.closed))
    }

    @Test("RFC 9293 §3.10.8: TIME-WAIT ends after 2 MSL in CLOSED")
    func timeWaitExpires() {
        let f = finWait2()
        _ = f.receive(seg(rcv, ack: una + 1, .fin))
        #expect(f.advance(.seconds(2)).isEmpty)
        #expect(f.state == .closed)
        #expect(f.events.contains(.closed))
    }

    @Test("RFC 9293 §3.10.7.4 TIME-WAIT: a new SYN above RCV.NXT may reopen the connection")
    func timeWaitAcceptsNewSyn() {
        let f = finWait2()
        _ = f.receive(seg(rcv, ack: una + 1, .fin))
        #expect(f.connection.acceptsNewConnection(from: seg(rcv + 100_000, .syn)))
        #expect(!f.connection.acceptsNewConnection(from: seg(rcv - 10, .syn)))
    }

    @Test("RFC 9293 §3.10.7.4 CLOSE-WAIT: data can still be sent; CLOSE sends FIN and enters LAST-ACK")
    func closeWaitToLastAck() {
        let f = TCPFixture.established()
        _ = f.receive(seg(rcv, ack: una, .fin))
        #expect(f.state == .closeWait)
        _ = f.write(bytes(20))
        #expect(f.drain() == [seg(una, ack: rcv + 1, .psh, wnd: 8191, len: 20)])
        _ = f.receive(seg(rcv + 1, ack: una + 20, []))
        _ = f.connection.close(now: f.now)
        #expect(f.state == .lastAck)
        #expect(f.drain() == [seg(una + 20, ack: rcv + 1, .fin, wnd: 8191)])
        // RFC 9293 §3.10.7.4 LAST-ACK: the ACK of our FIN closes the connection.
        #expect(f.receive(seg(rcv + 1, ack: una + 21, [])).isEmpty)
        #expect(f.state == .closed)
        #expect(f.events.contains(.closed))
        #expect(f.connection.error == nil)
    }

    @Test("RFC 5961 §3.2: an exact RST in LAST-ACK closes without error")
    func resetInLastAck() {
        let f = TCPFixture.established()
        _ = f.receive(seg(rcv, ack: una, .fin))
        _ = f.connection.close(now: f.now)
        _ = f.drain()
        #expect(f.receive(seg(rcv + 1, .rst, wnd: 0)).isEmpty)
        #expect(f.state == .closed)
        #expect(f.connection.error == nil)
    }

    @Test("Data arriving after close() resets the connection (RFC 1122 §4.2.2.13, as Linux)")
    func dataAfterCloseResets() {
        let f = TCPFixture.established()
        _ = f.connection.close(now: f.now)
        _ = f.drain()
        #expect(f.receive(seg(rcv, ack: una + 1, []), payload: bytes(10)) == [TCPSegmentHeader(seq: una + 1, control: .rst)])
        #expect(f.state == .closed)
    }
}
