import Testing
import Wire
@testable import NetStack

/// SYN cookies (RFC 4987 §3.6, Linux net/ipv4/syncookies.c layout): the encoding itself, and a
/// listener whose SYN queue is full completing handshakes from the final ACK alone.
@Suite("SYN cookies")
struct SynCookieTests {
    static let flooder = IPAddress("100.64.6.66")!
    static let flow = TCPFlow(local: IPEndpoint(stackV4, 80), remote: IPEndpoint(clientV4, 40000))

    func cookies(seed: UInt64 = 5) -> SynCookies {
        var random = RandomSource(seed: seed)
        return SynCookies(random: &random)
    }

    @Test("Linux check_tcp_syn_cookie: a cookie decodes to its MSS index for 1–2 minutes (MAX_SYNCOOKIE_AGE), not after, and not for another 4-tuple, peer ISN or secret")
    func cookieValidity() {
        let c = cookies()
        let start = NetInstant.zero + .seconds(600)  // the start of a counter minute
        let peer = SequenceNumber(0xFFFF_FFF0)
        for index in 0..<4 {
            let cookie = c.sequenceNumber(flow: Self.flow, peerSequence: peer, mssIndex: index, now: start)
            #expect(c.check(cookie, flow: Self.flow, peerSequence: peer, now: start, tableSize: 4) == index)
            #expect(c.check(cookie, flow: Self.flow, peerSequence: peer, now: start + .seconds(119), tableSize: 4) == index)
            #expect(c.check(cookie, flow: Self.flow, peerSequence: peer, now: start + .seconds(120), tableSize: 4) == nil)
            #expect(c.check(cookie, flow: Self.flow, peerSequence: peer, now: .zero + .seconds(540), tableSize: 4) == nil)
            // Off by a little (Linux would take cookie + 1 as the next MSS index): rejected.
            for delta in [1, 2, 3, -1] {
                #expect(c.check(cookie, flow: Self.flow, peerSequence: peer + delta, now: start, tableSize: 4) == nil)
                #expect(c.check(cookie + delta, flow: Self.flow, peerSequence: peer, now: start, tableSize: 4) == nil)
            }
            var otherPort = Self.flow
            otherPort.remote.port += 1
            #expect(c.check(cookie, flow: otherPort, peerSequence: peer, now: start, tableSize: 4) == nil)
            var otherAddress = Self.flow
            otherAddress.remote = IPEndpoint(Self.flooder, 40000)
            #expect(c.check(cookie, flow: otherAddress, peerSequence: peer, now: start, tableSize: 4) == nil)
            #expect(cookies(seed: 6).check(cookie, flow: Self.flow, peerSequence: peer, now: start, tableSize: 4) == nil)
        }
        // A cookie issued late in a minute lives into the next one only.
        let late = start + .seconds(59)
        let cookie = c.sequenceNumber(flow: Self.flow, peerSequence: peer, mssIndex: 2, now: late)
        #expect(c.check(cookie, flow: Self.flow, peerSequence: peer, now: late + .seconds(60), tableSize: 4) == 2)
        #expect(c.check(cookie, flow: Self.flow, peerSequence: peer, now: late + .seconds(61), tableSize: 4) == nil)
    }

    @Test("Forged cookies: of 100,000 random ACK numbers, almost none pass (4 valid values in 2^24 per counter)")
    func forgeriesFail() {
        let c = cookies()
        var random = SeededRandom(seed: 9)
        var passed = 0
        for _ in 0..<100_000 {
            let guess = SequenceNumber(UInt32(truncatingIfNeeded: random.next()))
            if c.check(guess, flow: Self.flow, peerSequence: SequenceNumber(1), now: .zero, tableSize: 4) != nil {
                passed += 1
            }
        }
        #expect(passed <= 2)
    }

    @Test("Linux msstab: the largest entry not above the peer's MSS, entry 0 below all")
    func mssIndex() {
        let v4 = SynCookies.ipv4MSSTable
        #expect(SynCookies.mssIndex(peerMSS: 1460, table: v4) == 3)
        #expect(SynCookies.mssIndex(peerMSS: 1400, table: v4) == 1)
        #expect(SynCookies.mssIndex(peerMSS: 536, table: v4) == 0)
        #expect(SynCookies.mssIndex(peerMSS: 100, table: v4) == 0)
        #expect(SynCookies.mssIndex(peerMSS: 65495, table: v4) == 3)
        #expect(SynCookies.mssIndex(peerMSS: 1220, table: SynCookies.ipv6MSSTable) == 0)
        #expect(SynCookies.mssIndex(peerMSS: 1440, table: SynCookies.ipv6MSSTable) == 2)
    }

    @Test("Linux cookie_init_timestamp / cookie_timestamp_decode: window scale, SACK and ECN survive the TSval echo; TSval is at most 63 ms behind the clock")
    func timestampEncoding() {
        let offset: UInt32 = 0xDEAD_BEEF
        for clock: UInt32 in [0, 5, 63, 64, 1_000_037, 0xFFFF_FFFF] {
            for scale: UInt8? in [nil, 0, 1, 7, 14] {
                for sack in [false, true] {
                    for ecn in [false, true] {
                        let options = SynCookies.EchoedOptions(windowScale: scale, sackPermitted: sack, ecn: ecn)
                        let value = SynCookies.timestampValue(clock: clock, offset: offset, options: options)
                        #expect(SynCookies.decode(echoReply: value, offset: offset) == options)
                        let behind = (clock &+ offset) &- value
                        #expect(behind < 64)
                    }
                }
            }
        }
        // A peer shift above 14 is sent as 14 (RFC 7323 §2.3), never as the "none" pattern.
        let clamped = SynCookies.timestampValue(
            clock: 1000, offset: 0, options: .init(windowScale: 15, sackPermitted: false, ecn: false))
        #expect(SynCookies.decode(echoReply: clamped, offset: 0).windowScale == 14)
    }

    // MARK: Through the stack

    /// A stack whose listener on port 80 (backlog 2) has a full SYN queue.
    func stackWithFullSynQueue(_ adjust: (inout IPStackConfiguration) -> Void = { _ in }) throws
        -> (IPStack, TCPListenerHandle)
    {
        let stack = makeStack(adjust)
        let listener = try stack.listen(port: 80, backlog: 2)
        for port: UInt16 in 1000..<1002 {
            deliver(tcpPacket(from: IPEndpoint(Self.flooder, port), to: IPEndpoint(stackV4, 80), seq: 7, flags: .syn), to: stack)
        }
        #expect(drain(stack).count == 2)
        #expect(stack.counters.tcpSynCookiesSent == 0)
        return (stack, listener)
    }

    static let fullOptions = TCPOptions(
        maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true, timestamps: TCPTimestamps(value: 5000, echoReply: 0))

    @Test("RFC 4987 §3.6: with timestamps, a cookie SYN,ACK keeps no state, and the final ACK (with data) rebuilds the connection with MSS, window scale, SACK and timestamps")
    func cookieHandshakeWithTimestamps() throws {
        let (stack, listener) = try stackWithFullSynQueue()
        let now = NetInstant.zero + .milliseconds(123_456)
        deliver(tcpPacket(from: IPEndpoint(clientV4, 40000), to: IPEndpoint(stackV4, 80), seq: 999, flags: .syn,
                          options: Self.fullOptions), to: stack, now: now)
        let out = drain(stack, now: now)
        #expect(out.count == 1)
        let synAck = try #require(parseTCP(out[0]))
        #expect(synAck.flags == [.syn, .ack] && synAck.acknowledgmentNumber == 1000)
        #expect(synAck.options.maximumSegmentSize == 1460)
        #expect(synAck.options.windowScale == TCPConnection.windowScale(for: TCPConfiguration().receiveBufferSize))
        #expect(synAck.options.sackPermitted)
        let ts = try #require(synAck.options.timestamps)
        #expect(ts.echoReply == 5000)
        #expect(stack.counters.tcpSynCookiesSent == 1)
        #expect(stack.connectionCount == 2, "no state for the cookie SYN")

        let later = now + .milliseconds(30)
        let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        deliver(tcpPacket(from: IPEndpoint(clientV4, 40000), to: IPEndpoint(stackV4, 80), seq: 1000,
                          ack: synAck.sequenceNumber &+ 1, flags: [.ack, .psh], window: 512,
                          options: TCPOptions(timestamps: TCPTimestamps(value: 5030, echoReply: ts.value)),
                          payload: request), to: stack, now: later)
        #expect(stack.counters.tcpSynCookiesValidated == 1)
        let accepted = try #require(try stack.accept(listener))
        let status = try #require(stack.status(of: accepted))
        #expect(status.state == .established && status.readableBytes == request.count)
        let connection = try #require(stack.tcpSlots[Int(accepted.index)].connection)
        #expect(connection.timestampsEnabled && connection.selectiveAcknowledgmentsEnabled)
        #expect(connection.send.scale == 7)
        #expect(connection.receive.scale == synAck.options.windowScale)
        #expect(connection.send.window == 512 << 7)
        #expect(connection.effectiveMSS == 1460 - 12)
        #expect(connection.tsRecent == 5030)
        // Our next segment continues the SYN,ACK's sequence and timestamp clock.
        _ = try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try stack.send(accepted, $0) }
        let data = try #require(drain(stack, now: later).compactMap(parseTCP).first { $0.flags.contains(.psh) })
        #expect(data.sequenceNumber == synAck.sequenceNumber &+ 1)
        #expect(data.acknowledgmentNumber == 1000 &+ UInt32(request.count))
        let tsval = try #require(data.options.timestamps?.value)
        #expect(tsval &- ts.value < 100)
    }

    @Test("Linux tcp_conn_request (want_cookie without timestamps): the SYN,ACK carries only the MSS; the connection has no window scale or SACK and the table MSS")
    func cookieHandshakeWithoutTimestamps() throws {
        let (stack, listener) = try stackWithFullSynQueue()
        deliver(tcpPacket(from: IPEndpoint(clientV4, 40001), to: IPEndpoint(stackV4, 80), seq: 50, flags: .syn,
                          options: TCPOptions(maximumSegmentSize: 1400, windowScale: 7, sackPermitted: true)), to: stack)
        let synAck = try #require(drain(stack).first.flatMap(parseTCP))
        #expect(synAck.options == TCPOptions(maximumSegmentSize: 1460))
        deliver(tcpPacket(from: IPEndpoint(clientV4, 40001), to: IPEndpoint(stackV4, 80), seq: 51,
                          ack: synAck.sequenceNumber &+ 1, flags: .ack, window: 1000), to: stack)
        let accepted = try #require(try stack.accept(listener))
        let connection = try #require(stack.tcpSlots[Int(accepted.index)].connection)
        #expect(connection.state == .established)
        #expect(!connection.timestampsEnabled && !connection.selectiveAcknowledgmentsEnabled)
        #expect(connection.send.scale == 0 && connection.receive.scale == 0)
        #expect(connection.send.window == 1000)
        #expect(connection.effectiveMSS == 1300, "msstab entry below 1400")
    }

    @Test("IPv6: the cookie carries an index into the IPv6 table (1220, 1420, 1440, 8940) and the handshake completes with timestamps")
    func cookieHandshakeOverIPv6() throws {
        let stack = makeStack()
        let listener = try stack.listen(port: 80, backlog: 1)
        let server = IPEndpoint(stackV6, 80)
        deliver(tcpPacket(from: IPEndpoint(clientV6, 1), to: server, seq: 7, flags: .syn), to: stack)
        #expect(drain(stack).count == 1)
        let client = IPEndpoint(clientV6, 40000)
        let options = TCPOptions(
            maximumSegmentSize: 1430, windowScale: 3, sackPermitted: true, timestamps: TCPTimestamps(value: 9, echoReply: 0))
        deliver(tcpPacket(from: client, to: server, seq: 100, flags: .syn, options: options), to: stack)
        let synAck = try #require(drain(stack).first.flatMap(parseTCP))
        #expect(stack.counters.tcpSynCookiesSent == 1)
        #expect(synAck.options.maximumSegmentSize == 1440, "MTU 1500 less 60")
        let echo = try #require(synAck.options.timestamps?.value)
        deliver(tcpPacket(from: client, to: server, seq: 101, ack: synAck.sequenceNumber &+ 1, flags: .ack,
                          options: TCPOptions(timestamps: TCPTimestamps(value: 10, echoReply: echo))), to: stack)
        let accepted = try #require(try stack.accept(listener))
        #expect(stack.status(of: accepted)?.remote == client)
        let connection = try #require(stack.tcpSlots[Int(accepted.index)].connection)
        #expect(connection.state == .established && connection.send.scale == 3 && connection.selectiveAcknowledgmentsEnabled)
        #expect(connection.effectiveMSS == 1420 - 12, "table entry 1420 (the largest not above 1430), less timestamps")
    }

    @Test("Forged, wrong-tuple, old and option-forged ACKs are rejected with a RST; an ACK to a listener that sent no cookie is not checked")
    func invalidCookiesRejected() throws {
        let (stack, listener) = try stackWithFullSynQueue()
        let client = IPEndpoint(clientV4, 40002)
        let server = IPEndpoint(stackV4, 80)
        deliver(tcpPacket(from: client, to: server, seq: 70, flags: .syn, options: Self.fullOptions), to: stack)
        let synAck = try #require(drain(stack).first.flatMap(parseTCP))
        let tsval = synAck.options.timestamps!.value
        func ack(from: IPEndpoint = client, seq: UInt32 = 71, ack: UInt32, echo: UInt32, at now: NetInstant = .zero) -> [[UInt8]] {
            deliver(tcpPacket(from: from, to: server, seq: seq, ack: ack, flags: .ack,
                              options: TCPOptions(timestamps: TCPTimestamps(value: 5001, echoReply: echo))), to: stack, now: now)
            return drain(stack, now: now)
        }
        let cookie = synAck.sequenceNumber &+ 1
        var rejected = 0
        let attempts: [(String, () -> [[UInt8]])] = [
            ("forged ACK number", { ack(ack: cookie &+ 1, echo: tsval) }),
            ("another peer sequence number", { ack(seq: 72, ack: cookie, echo: tsval) }),
            ("another source port", { ack(from: IPEndpoint(clientV4, 40003), ack: cookie, echo: tsval) }),
            ("another source address", { ack(from: IPEndpoint(Self.flooder, 40002), ack: cookie, echo: tsval) }),
        ]
        for (name, attempt) in attempts {
            let replies = attempt()
            rejected += 1
            #expect(replies.count == 1 && parseTCP(replies[0])?.flags == .rst, "\(name)")
            #expect(stack.counters.tcpSynCookiesRejected == rejected, "\(name)")
        }
        // SACK in the echo when this stack does not do SACK: a forged echo (Linux cookie_timestamp_decode).
        let (noSack, _) = try stackWithFullSynQueue { $0.tcp.selectiveAcknowledgments = false }
        deliver(tcpPacket(from: client, to: server, seq: 70, flags: .syn, options: Self.fullOptions), to: noSack)
        let noSackSynAck = try #require(drain(noSack).first.flatMap(parseTCP))
        let offset = noSack.identifiers.timestampOffset(local: server, remote: client)
        let forgedEcho = SynCookies.timestampValue(
            clock: 0, offset: offset, options: .init(windowScale: 7, sackPermitted: true, ecn: false))
        deliver(tcpPacket(from: client, to: server, seq: 71, ack: noSackSynAck.sequenceNumber &+ 1, flags: .ack,
                          options: TCPOptions(timestamps: TCPTimestamps(value: 1, echoReply: forgedEcho))), to: noSack)
        #expect(noSack.counters.tcpSynCookiesRejected == 1 && noSack.counters.tcpSynCookiesValidated == 0)
        // The genuine ACK still works, and nothing above created a connection.
        #expect(stack.connectionCount == 2)
        #expect(ack(ack: cookie, echo: tsval, at: .zero + .seconds(1)).isEmpty)
        #expect(stack.counters.tcpSynCookiesValidated == 1)
        #expect(try stack.accept(listener) != nil)
        // A cookie older than two minutes, checked while the listener still sends cookies.
        deliver(tcpPacket(from: IPEndpoint(clientV4, 40004), to: server, seq: 70, flags: .syn, options: Self.fullOptions), to: stack)
        let oldSynAck = try #require(drain(stack).first.flatMap(parseTCP))
        let later = NetInstant.zero + .seconds(121)
        deliver(tcpPacket(from: IPEndpoint(clientV4, 40005), to: server, seq: 70, flags: .syn, options: Self.fullOptions), to: stack, now: later)
        #expect(drain(stack, now: later).count == 1)
        let old = ack(from: IPEndpoint(clientV4, 40004), ack: oldSynAck.sequenceNumber &+ 1, echo: oldSynAck.options.timestamps!.value, at: later)
        #expect(old.map { parseTCP($0)?.flags } == [.rst])
        #expect(stack.counters.tcpSynCookiesRejected == rejected + 1)
        // A listener that never sent a cookie answers a stray ACK with a RST without checking it.
        let quiet = makeStack()
        _ = try quiet.listen(port: 80)
        deliver(tcpPacket(from: client, to: server, seq: 71, ack: cookie, flags: .ack), to: quiet)
        #expect(drain(quiet).map { parseTCP($0)?.flags } == [.rst])
        #expect(quiet.counters.tcpSynCookiesRejected == 0 && quiet.counters.tcpSynCookiesValidated == 0)
    }

    @Test("A valid cookie ACK into a full accept queue is reset (as the stateful path, Linux tcp_abort_on_overflow)")
    func cookieIntoFullAcceptQueue() throws {
        let stack = makeStack()
        _ = try stack.listen(port: 80, backlog: 1)
        let server = IPEndpoint(stackV4, 80)
        // A's SYN fills the SYN queue; B gets a cookie while the accept queue has room.
        deliver(tcpPacket(from: IPEndpoint(clientV4, 1), to: server, seq: 1, flags: .syn), to: stack)
        let a = try #require(drain(stack).first.flatMap(parseTCP))
        deliver(tcpPacket(from: IPEndpoint(clientV4, 2), to: server, seq: 1, flags: .syn), to: stack)
        let b = try #require(drain(stack).first.flatMap(parseTCP))
        #expect(stack.counters.tcpSynCookiesSent == 1)
        // A completes and fills the accept queue; then B's cookie ACK arrives.
        deliver(tcpPacket(from: IPEndpoint(clientV4, 1), to: server, seq: 2, ack: a.sequenceNumber &+ 1, flags: .ack), to: stack)
        deliver(tcpPacket(from: IPEndpoint(clientV4, 2), to: server, seq: 2, ack: b.sequenceNumber &+ 1, flags: .ack), to: stack)
        #expect(drain(stack).map { parseTCP($0)?.flags } == [.rst])
        #expect(stack.counters.tcpSynCookiesValidated == 1 && stack.counters.tcpAcceptQueueOverflows == 1)
        #expect(stack.connectionCount == 1)
    }

    @Test("With SYN cookies off, a full SYN queue evicts its oldest entry and never sends a cookie")
    func cookiesOff() throws {
        let (stack, _) = try stackWithFullSynQueue { $0.synCookies = false }
        deliver(tcpPacket(from: IPEndpoint(clientV4, 40000), to: IPEndpoint(stackV4, 80), seq: 1, flags: .syn), to: stack)
        #expect(drain(stack).count == 1)
        #expect(stack.counters.tcpSynCookiesSent == 0 && stack.counters.tcpSynQueueEvictions == 1)
        #expect(stack.connectionCount == 2)
    }
}
