import Testing
import Wire
@testable import NetStack

/// Edge cases found in review (issue 14): a tiny MSS option, PAWS after a long idle time, and data
/// past an out-of-order FIN.
@Suite("TCP edge cases: tiny MSS, PAWS expiry, out-of-order FIN")
struct TCPReviewEdgeCaseTests {
    let una = localISS + 1
    let rcv = remoteISS + 1

    /// ESTABLISHED through an active open whose SYN,ACK carried `mss` (nil: no MSS option).
    func established(peerMSS mss: UInt16?, timestamps: Bool = false) -> TCPFixture {
        let f = TCPFixture.synSent(fixtureConfiguration(buffer: 65536, timestamps: timestamps))
        var synAck = seg(remoteISS, ack: localISS + 1, .syn, wnd: 65535)
        synAck.maxSegmentSize = mss
        if timestamps { synAck.timestamps = TCPTimestamps(value: 1, echoReply: 0) }
        _ = f.receive(synAck)
        #expect(f.state == .established)
        return f
    }

    @Test(
        "CVE-2019-11479 / Linux min_snd_mss: an MSS option under 48 bytes is raised to 48; no tiny segments",
        arguments: [0, 1, 8, 47] as [UInt16])
    func tinyMSSRaisedToFloor(mss: UInt16) {
        let f = established(peerMSS: mss)
        #expect(f.connection.effectiveMSS == TCPConnection.minimumSendMSS)
        #expect(f.write(bytes(4800)) == 4800)
        let out = f.drain()
        #expect(!out.isEmpty)
        #expect(out.allSatisfy { $0.payloadLength == 48 }, "segment sizes \(Set(out.map(\.payloadLength)))")
        #expect(out.count <= 100)
    }

    @Test("CVE-2019-11479 / Linux min_snd_mss: with timestamps the floor is 48 bytes less the 12-byte option")
    func tinyMSSWithTimestamps() {
        let f = established(peerMSS: 1, timestamps: true)
        #expect(f.connection.effectiveMSS == TCPConnection.minimumSendMSS - 12)
    }

    @Test("RFC 9293 §3.7.1: an MSS option at or above the floor is used as offered")
    func mssAtFloorUnchanged() {
        #expect(established(peerMSS: 48).connection.effectiveMSS == 48)
        #expect(established(peerMSS: 600).connection.effectiveMSS == 600)
    }

    /// ESTABLISHED with timestamps, TS.Recent = 500 taken at time zero.
    func establishedWithTimestamps() -> TCPFixture {
        let f = TCPFixture.synSent(fixtureConfiguration(timestamps: true))
        var synAck = seg(remoteISS, ack: localISS + 1, .syn)
        synAck.timestamps = TCPTimestamps(value: 500, echoReply: 0)
        _ = f.receive(synAck)
        #expect(f.state == .established)
        return f
    }

    @Test("RFC 7323 §5.5: TS.Recent idle for more than 24 days is invalid; an older TSval is then accepted")
    func pawsTSRecentExpiresAfter24Days() {
        let f = establishedWithTimestamps()
        var old = seg(rcv, ack: una, [])
        old.timestamps = TCPTimestamps(value: 400, echoReply: 0)
        // 23 days idle: TS.Recent still holds and the segment is a PAWS duplicate.
        _ = f.advance(.seconds(23 * 86_400))
        #expect(f.receive(old, payload: bytes(10)).count == 1)
        #expect(f.connection.readableBytes == 0)
        // Past 24 days: TS.Recent is invalid, the segment is accepted and its TSval becomes TS.Recent.
        _ = f.advance(.seconds(2 * 86_400))
        _ = f.receive(old, payload: bytes(10))
        #expect(f.connection.readableBytes == 10)
        #expect(f.connection.tsRecent == 400)
        // From then on PAWS applies again against the new TS.Recent.
        var older = seg(rcv + 10, ack: una, [])
        older.timestamps = TCPTimestamps(value: 399, echoReply: 0)
        _ = f.receive(older, payload: bytes(10, from: 10))
        #expect(f.connection.readableBytes == 10)
    }

    @Test("RFC 9293 §3.10.7.4 eighth: data past an out-of-order FIN is not delivered, and the FIN is processed")
    func dataPastOutOfOrderFinDiscarded() {
        let f = TCPFixture.established()
        // The FIN (no data) arrives first, 1000 bytes ahead of RCV.NXT.
        _ = f.receive(seg(rcv + 1000, ack: una, .fin))
        #expect(f.state == .established)
        // Then 2000 bytes from RCV.NXT: only the 1000 before the FIN count; the FIN follows them.
        let out = f.receive(seg(rcv, ack: una, []), payload: bytes(2000))
        #expect(f.state == .closeWait)
        #expect(out.last?.ack == rcv + 1001)
        #expect(f.read().elementsEqual(bytes(1000)), "the bytes before the FIN")
        #expect(f.connection.isAtEndOfStream)
    }

    @Test("RFC 9293 §3.10.7.4 eighth: out-of-order data beyond a known FIN is neither held nor delivered")
    func outOfOrderDataBeyondFinDropped() {
        let f = TCPFixture.established()
        // FIN carried on data 1000..<1500: the FIN occupies 1500.
        _ = f.receive(seg(rcv + 1000, ack: una, .fin), payload: bytes(500, from: 1000))
        // Data claiming to lie past the FIN.
        _ = f.receive(seg(rcv + 1500, ack: una, []), payload: bytes(500, from: 1500))
        _ = f.receive(seg(rcv, ack: una, []), payload: bytes(1000))
        #expect(f.state == .closeWait)
        #expect(f.read().elementsEqual(bytes(1500)), "the bytes before the FIN")
        #expect(f.connection.isAtEndOfStream)
        #expect(f.connection.receive.nxt == rcv + 1501)
    }

    @Test("RFC 9293 §3.10.7.4 eighth: data held beyond a later-arriving out-of-order FIN is discarded")
    func heldDataBeyondLaterFinDiscarded() {
        let f = TCPFixture.established()
        _ = f.receive(seg(rcv + 2000, ack: una, []), payload: bytes(1000, from: 2000))
        _ = f.receive(seg(rcv + 1000, ack: una, .fin))
        _ = f.receive(seg(rcv, ack: una, []), payload: bytes(1000))
        #expect(f.state == .closeWait)
        #expect(f.read().elementsEqual(bytes(1000)), "the bytes before the FIN")
        #expect(f.connection.isAtEndOfStream)
        #expect(f.connection.receive.nxt == rcv + 1001)
    }

    @Test("RFC 9293 §3.10.7.4 eighth: a FIN arriving out of order on its own is processed once the gap fills")
    func outOfOrderFinProcessedWhenGapFills() {
        let f = TCPFixture.established()
        _ = f.receive(seg(rcv + 1000, ack: una, .fin))
        let out = f.receive(seg(rcv, ack: una, []), payload: bytes(1000))
        #expect(f.state == .closeWait)
        #expect(out == [seg(una, ack: rcv + 1001, [], wnd: 7191)])
    }

    /// ESTABLISHED with our 1-byte zero-window probe sent (SND.NXT = SND.UNA + 1) and the peer's
    /// receive window closed too (the peer's data filled ours).
    func bothWindowsClosed() -> TCPFixture {
        let f = TCPFixture.established()
        #expect(f.write(bytes(100)) == 100)
        #expect(f.drain().count == 1)
        // The peer acknowledges everything but closes its window, and fills ours.
        _ = f.receive(seg(rcv, ack: una + 100, [], wnd: 0), payload: bytes(8192))
        _ = f.drain()
        #expect(f.write(bytes(100)) == 100)
        #expect(f.drain().isEmpty)
        // The persist timer fires (after the delayed ACK, if one is pending): one octet past the window.
        var probe: [TCPSegmentHeader] = []
        for _ in 0..<3 where probe.isEmpty { probe = f.advanceToDeadline().filter { $0.payloadLength > 0 } }
        #expect(probe == [seg(una + 100, ack: rcv + 8192, [], wnd: 0, len: 1)])
        #expect(f.connection.send.nxt == una + 101)
        return f
    }

    @Test("RFC 9293 §3.10.7.4 / Linux tcp_acceptable_seq: after a zero-window probe, an ACK carries a sequence number inside the peer's window")
    func pureAckSequenceWithinPeerWindow() {
        let f = bothWindowsClosed()
        // The peer answers the probe without taking the byte; a retransmission of its data gets an ACK
        // whose SEQ is SND.UNA (the peer's RCV.NXT), not SND.NXT one past its closed window.
        #expect(f.receive(seg(rcv + 8192, ack: una + 100, [], wnd: 0)).isEmpty)
        let out = f.receive(seg(rcv, ack: una + 100, [], wnd: 0), payload: bytes(1000))
        #expect(out == [seg(una + 100, ack: rcv + 8192, [], wnd: 0)])
    }

    @Test("RFC 5961 §7 / Linux tcp_invalid_ratelimit: unacceptable segments without data are answered at most once per 500 ms")
    func outOfWindowAcksRateLimited() {
        let f = TCPFixture.established()
        // Pure ACKs far outside the receive window.
        var replies = 0
        for _ in 0..<100 {
            replies += f.receive(seg(rcv + 100_000, ack: una, [])).count
            f.now = f.now + .milliseconds(10)
        }
        #expect(replies == 2)
        // Segments with data are still answered at once (a zero-window probe must be acknowledged).
        #expect(f.receive(seg(rcv - 1000, ack: una, []), payload: bytes(10)).count == 1)
        #expect(f.receive(seg(rcv - 1000, ack: una, []), payload: bytes(10)).count == 1)
    }
}
