import Testing
@testable import NetStack
import Wire

/// The rules that decide how long a small message waits: Nagle on the sending side, delayed ACK on
/// the receiving side, and how the two meet in request/response exchanges.
@Suite("TCP Nagle and delayed ACK")
struct TCPNagleTests {
    let una = localISS + 1
    let rcv = remoteISS + 1

    @Test("RFC 896 / RFC 1122 §4.2.3.4 (Minshall): the short tail of a write is not held behind full-sized segments")
    func shortTailBehindFullSegments() {
        let f = TCPFixture.established()
        #expect(f.write(bytes(1500)) == 1500)
        // Plain Nagle would hold the 500-byte tail until the peer ACKs the first segment, which a
        // delayed-ACK peer does only after its timer: 40 ms per response longer than one MSS.
        #expect(f.drain() == [
            seg(una, ack: rcv, [], len: 1000),
            seg(una + 1000, ack: rcv, .psh, len: 500),
        ])
    }

    @Test("RFC 896 / RFC 1122 §4.2.3.4 (Minshall): a small segment waits while an earlier small segment is unacknowledged")
    func smallSegmentWaitsForSmallSegment() {
        let f = TCPFixture.established()
        _ = f.write(bytes(1500))
        _ = f.drain()
        _ = f.write(bytes(100, from: 1500))
        #expect(f.drain().isEmpty, "the 500-byte segment is in flight")
        // Acknowledging only the full-sized segment is not enough.
        #expect(f.receive(seg(rcv, ack: una + 1000, [])).isEmpty)
        #expect(f.receive(seg(rcv, ack: una + 1500, [])) == [seg(una + 1500, ack: rcv, .psh, len: 100)])
        #expect(f.sentPayload == bytes(100, from: 1500))
    }

    @Test("RFC 1122 §4.2.3.4: with Nagle off every write goes out at once, small segments in flight or not")
    func noDelaySendsEveryWrite() {
        var config = fixtureConfiguration()
        config.noDelay = true
        let f = TCPFixture.established(config)
        _ = f.write(bytes(10))
        #expect(f.drain() == [seg(una, ack: rcv, .psh, len: 10)])
        _ = f.write(bytes(10, from: 10))
        #expect(f.drain() == [seg(una + 10, ack: rcv, .psh, len: 10)])
    }

    @Test("RFC 1122 §4.2.3.2: a reply written before the delayed-ACK timer fires carries the ACK; no separate ACK follows")
    func replyCarriesDelayedAck() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv, ack: una, .psh), payload: bytes(64)).isEmpty, "the ACK is delayed")
        #expect(f.read() == bytes(64))
        _ = f.write(bytes(64))
        // The window stays at what was advertised: 64 freed bytes are no window update (RFC 9293 §3.8.6.2.2).
        #expect(f.drain() == [seg(una, ack: rcv + 64, .psh, wnd: 8128, len: 64)])
        #expect(f.advance(.milliseconds(40)).isEmpty, "the reply acknowledged the request")
    }

    @Test("RFC 1122 §4.2.3.2: the delay runs from the first unacknowledged segment; later small segments do not extend it")
    func delayRunsFromFirstSegment() {
        let f = TCPFixture.established()
        #expect(f.receive(seg(rcv, ack: una, .psh), payload: bytes(100)).isEmpty)
        #expect(f.advance(.milliseconds(20)).isEmpty)
        #expect(f.receive(seg(rcv + 100, ack: una, .psh), payload: bytes(100, from: 100)).isEmpty)
        #expect(f.connection.nextDeadline == NetInstant.zero + .milliseconds(40))
        #expect(f.advance(.milliseconds(20)) == [seg(una, ack: rcv + 200, [], wnd: 7992)])
    }
}
