import Testing
import Wire
@testable import NetStack

/// Listener protection (issue 14): one source address cannot take the whole connection table, and a
/// flood of half-open connections cannot crowd out new SYNs or the accept queue.
@Suite("TCP listener limits: per source address, SYN queue")
struct TCPListenerLimitTests {
    static let otherClientV4 = IPAddress("100.64.6.9")!

    func syn(from address: IPAddress = clientV4, port: UInt16, to listenPort: UInt16 = 80) -> [UInt8] {
        tcpPacket(from: IPEndpoint(address, port), to: IPEndpoint(stackV4, listenPort), seq: 1, flags: .syn)
    }

    /// Completes the handshake of a connection whose SYN,ACK is `synAck`.
    func ack(_ synAck: [UInt8], from address: IPAddress = clientV4) -> [UInt8] {
        let header = parseTCP(synAck)!
        return tcpPacket(
            from: IPEndpoint(address, header.destinationPort), to: IPEndpoint(stackV4, header.sourcePort), seq: 2,
            ack: header.sequenceNumber &+ 1, flags: .ack)
    }

    @Test("One source address holds at most maximumConnectionsPerRemoteAddress connections; other addresses still connect")
    func perSourceAddressLimit() throws {
        let stack = makeStack {
            $0.maximumConnections = 8
            $0.maximumConnectionsPerRemoteAddress = 3
        }
        let listener = try stack.listen(port: 80)
        for port: UInt16 in 40000..<40005 { deliver(syn(port: port), to: stack) }
        let answered = drain(stack)
        #expect(answered.count == 3)
        #expect(stack.connectionCount == 3)
        #expect(stack.counters.tcpPerAddressLimitDrops == 2)
        // Established connections still count against their source address.
        for synAck in answered { deliver(ack(synAck), to: stack) }
        #expect(drain(stack).isEmpty)
        deliver(syn(port: 40010), to: stack)
        #expect(drain(stack).isEmpty)
        // Another source address gets in (up to its own limit).
        for port: UInt16 in 40000..<40010 { deliver(syn(from: Self.otherClientV4, port: port), to: stack) }
        #expect(drain(stack).count == 3)
        // A connection that ends returns its place to its source address.
        let accepted = try #require(try stack.accept(listener))
        stack.abort(accepted)
        _ = drain(stack)
        #expect(stack.connectionCount == 5)
        deliver(syn(port: 40020), to: stack)
        #expect(drain(stack).map { parseTCP($0)?.flags } == [[.syn, .ack]])
    }

    @Test("Connections this stack opens do not count against the remote address's passive-open limit")
    func activeOpensNotLimited() throws {
        let stack = makeStack { $0.maximumConnectionsPerRemoteAddress = 2 }
        for _ in 0..<4 { _ = try stack.connect(to: IPEndpoint(clientV4, 443), now: .zero) }
        #expect(stack.connectionCount == 4)
    }

    @Test("RFC 4987 §3.4 (SYN queue): with SYN cookies off, when the half-open queue is full the oldest half-open connection is dropped for the new SYN")
    func synQueueEvictsOldestHalfOpen() throws {
        let stack = makeStack { $0.synCookies = false }
        let listener = try stack.listen(port: 80, backlog: 4)
        // A flood of SYNs that are never completed.
        for port: UInt16 in 40000..<40100 { deliver(syn(from: Self.otherClientV4, port: port), to: stack) }
        _ = drain(stack)
        #expect(stack.connectionCount == 4)
        #expect(stack.counters.tcpSynQueueEvictions == 96)
        // A real client still gets a SYN,ACK and completes its handshake.
        deliver(syn(port: 50000), to: stack)
        let synAck = try #require(drain(stack).first)
        #expect(parseTCP(synAck)?.flags == [.syn, .ack])
        #expect(parseTCP(synAck)?.destinationPort == 50000)
        deliver(ack(synAck), to: stack)
        let accepted = try #require(try stack.accept(listener))
        #expect(stack.status(of: accepted)?.remote == IPEndpoint(clientV4, 50000))
    }

    @Test("RFC 9293 §3.10.7.2: half-open connections do not use the accept backlog; a full accept queue drops new SYNs")
    func acceptQueueSeparateFromSynQueue() throws {
        let stack = makeStack()
        _ = try stack.listen(port: 80, backlog: 2)
        // Two connections complete and wait for accept: the accept queue is full.
        for port: UInt16 in 40000..<40002 { deliver(syn(port: port), to: stack) }
        for synAck in drain(stack) { deliver(ack(synAck), to: stack) }
        _ = drain(stack)
        #expect(stack.connectionCount == 2)
        // Further SYNs are dropped while nobody accepts (Linux drops SYNs when the accept queue is full).
        deliver(syn(port: 40002), to: stack)
        #expect(drain(stack).isEmpty)
        #expect(stack.counters.tcpBacklogDrops == 1)
    }

    @Test("Linux tcp_abort_on_overflow: a handshake that completes into a full accept queue is reset, the queue stays bounded")
    func acceptQueueOverflowResets() throws {
        let stack = makeStack()
        let listener = try stack.listen(port: 80, backlog: 2)
        // One connection waits for accept; two more are half-open (the SYN queue is separate).
        deliver(syn(port: 40000), to: stack)
        for synAck in drain(stack) { deliver(ack(synAck), to: stack) }
        _ = drain(stack)
        for port: UInt16 in 40001..<40003 { deliver(syn(port: port), to: stack) }
        let synAcks = drain(stack)
        #expect(synAcks.count == 2)
        // Both complete: the first fills the accept queue, the second is reset.
        for synAck in synAcks { deliver(ack(synAck), to: stack) }
        let out = drain(stack)
        #expect(out.count == 1 && parseTCP(out[0])?.flags.contains(.rst) == true)
        #expect(stack.counters.tcpAcceptQueueOverflows == 1)
        #expect(stack.connectionCount == 2)
        #expect(try stack.accept(listener) != nil)
        #expect(try stack.accept(listener) != nil)
        #expect(try stack.accept(listener) == nil)
    }

    @Test("Linux reqsk_timer_handler: half-open connections that arrive in a crowded SYN queue get 2 SYN,ACK retransmissions: a flood's are gone 7 s after it stops")
    func floodHalfOpenConnectionsExpireQuickly() throws {
        // With cookies off, the flood's later SYNs evict the earlier ones: what stays arrived under
        // pressure.
        let stack = makeStack { $0.synCookies = false }
        _ = try stack.listen(port: 80, backlog: 128)
        for port: UInt16 in 40000..<40200 { deliver(syn(from: Self.otherClientV4, port: port), to: stack) }
        _ = drain(stack)
        #expect(stack.connectionCount == 128)
        var now = NetInstant.zero
        while now < .zero + .seconds(8) {
            now = stack.nextDeadline ?? now + .seconds(1)
            stack.handleTimers(now: now)
            _ = drain(stack, now: now)
        }
        #expect(stack.connectionCount == 0)
        // Without pressure the usual limit holds: a lone half-open connection is still retried.
        deliver(syn(port: 41000), to: stack, now: now)
        _ = drain(stack, now: now)
        let start = now
        while now < start + .seconds(8) {
            now = stack.nextDeadline ?? now + .seconds(1)
            stack.handleTimers(now: now)
            _ = drain(stack, now: now)
        }
        #expect(stack.connectionCount == 1)
    }

    @Test("Linux reqsk_timer_handler judges the queue when each timer fires: with SYN cookies the half-open connections that came before the queue was crowded are gone 7 s after the flood too")
    func floodHalfOpenConnectionsExpireQuicklyWithSynCookies() throws {
        // Cookies on (the default): the flood's first SYNs fill the queue and stay (nothing evicts
        // them), the rest are answered with cookies. The first half arrived in an uncrowded queue.
        let stack = makeStack { _ in }
        _ = try stack.listen(port: 80, backlog: 128)
        for port: UInt16 in 40000..<40200 { deliver(syn(from: Self.otherClientV4, port: port), to: stack) }
        _ = drain(stack)
        #expect(stack.connectionCount == 128)
        #expect(stack.counters.tcpSynCookiesSent == 72)
        var now = NetInstant.zero
        while now < .zero + .seconds(8) {
            now = stack.nextDeadline ?? now + .seconds(1)
            stack.handleTimers(now: now)
            _ = drain(stack, now: now)
        }
        #expect(stack.connectionCount == 0)
    }
}
