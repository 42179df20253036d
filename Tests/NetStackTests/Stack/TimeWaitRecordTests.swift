import Testing
import Wire
@testable import NetStack

/// TIME-WAIT as a compact record (issue 14): a connection the application closed keeps no buffers
/// once in TIME-WAIT, and the record still answers as RFC 9293 §3.10.7.4, RFC 6191 and RFC 1337 ask.
@Suite("TIME-WAIT records")
struct TimeWaitRecordTests {
    static let client = IPEndpoint(clientV4, 40000)
    static let server = IPEndpoint(stackV4, 80)

    /// A stack (listening on 80) that closed a connection actively and holds it in TIME-WAIT:
    /// the peer's FIN was 1001, so RCV.NXT = 1002; the stack's FIN was ISS + 1.
    struct Fixture {
        let stack: IPStack
        let iss: UInt32
        let timestamps: Bool
        /// The peer's last TSval (TS.Recent).
        let peerTSval: UInt32 = 102

        init(timestamps: Bool) throws {
            self.timestamps = timestamps
            stack = makeStack()
            let listener = try stack.listen(port: 80)
            let options = timestamps
                ? TCPOptions(maximumSegmentSize: 1460, timestamps: TCPTimestamps(value: 100, echoReply: 0))
                : TCPOptions(maximumSegmentSize: 1460)
            deliver(tcpPacket(from: client, to: server, seq: 1000, flags: .syn, options: options), to: stack)
            let synAck = try #require(drain(stack).first.flatMap(parseTCP))
            iss = synAck.sequenceNumber
            deliver(tcpPacket(from: client, to: server, seq: 1001, ack: iss &+ 1, flags: .ack, options: ts(101)), to: stack)
            let socket = try #require(try stack.accept(listener))
            stack.close(socket, now: .zero)
            let fin = try #require(drain(stack).first.flatMap(parseTCP))
            #expect(fin.flags == [.fin, .ack] && fin.sequenceNumber == iss &+ 1)
            deliver(tcpPacket(from: client, to: server, seq: 1001, ack: iss &+ 2, flags: [.fin, .ack], options: ts(102)), to: stack)
            let ack = try #require(drain(stack).first.flatMap(parseTCP))
            #expect(ack.flags == .ack && ack.sequenceNumber == iss &+ 2 && ack.acknowledgmentNumber == 1002)
        }

        func ts(_ value: UInt32) -> TCPOptions {
            timestamps ? TCPOptions(timestamps: TCPTimestamps(value: value, echoReply: 1)) : TCPOptions()
        }

        /// Delivers a segment from the peer and returns what the stack sent in answer.
        func send(seq: UInt32, ack: UInt32? = nil, flags: TCPFlags, tsval: UInt32 = 103, payload: [UInt8] = [],
                  from: IPEndpoint = TimeWaitRecordTests.client, at now: NetInstant = .zero) -> [TCPHeader] {
            deliver(tcpPacket(from: from, to: server, seq: seq, ack: ack ?? iss &+ 2, flags: flags,
                              options: ts(tsval), payload: payload), to: stack, now: now)
            return drain(stack, now: now).compactMap(parseTCP)
        }

        func runTimers(until now: NetInstant) {
            stack.handleTimers(now: now)
            _ = drain(stack, now: now)
        }
    }

    @Test("The closed connection becomes a record: no connection object or buffers, counted as TIME-WAIT, expires after 2 MSL", arguments: [true, false])
    func compactRecord(timestamps: Bool) throws {
        let f = try Fixture(timestamps: timestamps)
        #expect(f.stack.timeWaitCount == 1)
        #expect(f.stack.tcpByFlow.isEmpty)
        #expect(f.stack.tcpSlots.allSatisfy { $0.connection == nil })
        #expect(f.stack.connectionCount == 1)
        #expect(f.stack.connectionsByState == [.timeWait: 1])
        #expect(f.stack.tcpPassiveByRemote[clientV4] == nil, "gave its remote address's place back")
        #expect(f.stack.nextDeadline == .zero + .seconds(60))
        #expect(MemoryLayout<TimeWaitRecord>.stride <= 64)
        f.runTimers(until: .zero + .seconds(60))
        #expect(f.stack.timeWaitCount == 0 && f.stack.connectionCount == 0)
        #expect(f.stack.tcpPassiveByRemote[clientV4] == nil)
        #expect(f.stack.nextDeadline == nil)
    }

    @Test("RFC 9293 §3.10.7.4 TIME-WAIT: a retransmitted FIN is ACKed from the record and restarts the 2 MSL timeout", arguments: [true, false])
    func retransmittedFin(timestamps: Bool) throws {
        let f = try Fixture(timestamps: timestamps)
        let replies = f.send(seq: 1001, flags: [.fin, .ack], at: .zero + .seconds(30))
        #expect(replies.count == 1)
        let ack = try #require(replies.first)
        #expect(ack.flags == .ack && ack.sequenceNumber == f.iss &+ 2 && ack.acknowledgmentNumber == 1002)
        #expect((ack.options.timestamps?.echoReply == f.peerTSval) == timestamps)
        #expect((ack.options.timestamps != nil) == timestamps)
        f.runTimers(until: .zero + .seconds(60))
        #expect(f.stack.timeWaitCount == 1)
        f.runTimers(until: .zero + .seconds(90))
        #expect(f.stack.timeWaitCount == 0)
    }

    @Test("RFC 1337: a RST, even at RCV.NXT, does not end TIME-WAIT and gets no answer")
    func resetIgnored() throws {
        let f = try Fixture(timestamps: false)
        #expect(f.send(seq: 1002, flags: .rst).isEmpty)
        #expect(f.send(seq: 1002, flags: [.rst, .ack]).isEmpty)
        #expect(f.stack.timeWaitCount == 1)
    }

    @Test("RFC 9293 §3.10.7.4 note / RFC 6191: a SYN above RCV.NXT (or, with timestamps, with a newer TSval) starts a new incarnation", arguments: [true, false])
    func newSynReopens(timestamps: Bool) throws {
        let f = try Fixture(timestamps: timestamps)
        // With timestamps the sequence number may be lower: the TSval decides (RFC 6191 §2).
        let seq: UInt32 = timestamps ? 10 : 5000
        let replies = f.send(seq: seq, ack: 0, flags: .syn, tsval: 200)
        #expect(replies.map(\.flags) == [[.syn, .ack]])
        #expect(replies.first?.acknowledgmentNumber == seq &+ 1)
        #expect(f.stack.timeWaitCount == 0)
        #expect(f.stack.connectionCount == 1)
        #expect(f.stack.tcpPassiveByRemote[clientV4] == 1, "the record's count passed to the new connection")
    }

    @Test("An old duplicate SYN (below RCV.NXT, or an older TSval) does not reopen: it gets an ACK, rate-limited, and the record stays", arguments: [true, false])
    func oldSynAcked(timestamps: Bool) throws {
        let f = try Fixture(timestamps: timestamps)
        let first = f.send(seq: 500, ack: 0, flags: .syn, tsval: 50)
        #expect(first.map(\.flags) == [.ack])
        #expect(first.first?.acknowledgmentNumber == 1002)
        #expect(f.send(seq: 500, ack: 0, flags: .syn, tsval: 50, at: .zero + .milliseconds(100)).isEmpty)
        #expect(f.send(seq: 500, ack: 0, flags: .syn, tsval: 50, at: .zero + .milliseconds(600)).count == 1)
        #expect(f.stack.timeWaitCount == 1)
    }

    @Test("Without a listener a newer SYN is answered with an ACK, not a new connection")
    func noListenerNoReopen() throws {
        let f = try Fixture(timestamps: false)
        f.stack.close(TCPListenerHandle(index: 0, generation: 0))
        #expect(f.send(seq: 5000, ack: 0, flags: .syn).map(\.flags) == [.ack])
        #expect(f.stack.timeWaitCount == 1)
    }

    @Test("A bare ACK at RCV.NXT gets nothing; data gets an ACK each time; PAWS duplicates do not restart the timer", arguments: [true, false])
    func otherSegments(timestamps: Bool) throws {
        let f = try Fixture(timestamps: timestamps)
        #expect(f.send(seq: 1002, flags: .ack).isEmpty)
        for _ in 0..<2 {
            let replies = f.send(seq: 1002, flags: [.ack, .psh], payload: [1, 2, 3])
            #expect(replies.map(\.flags) == [.ack])
            #expect(replies.first?.acknowledgmentNumber == 1002)
        }
        if timestamps {
            // A FIN with a TSval older than TS.Recent is a PAWS duplicate: ACKed (rate-limited), the
            // timer keeps running.
            _ = f.send(seq: 1001, flags: [.fin, .ack], tsval: 50, at: .zero + .seconds(30))
            f.runTimers(until: .zero + .seconds(60))
            #expect(f.stack.timeWaitCount == 0)
        }
    }

    @Test("A client that opens and closes connections quickly (the server closing first) is not locked out by its own TIME-WAIT records: they do not count against maximumConnectionsPerRemoteAddress")
    func timeWaitRecordsDoNotCountAgainstTheRemoteAddress() throws {
        let stack = makeStack { $0.maximumConnectionsPerRemoteAddress = 2 }
        let listener = try stack.listen(port: 80)
        for round in 0..<5 {
            let client = IPEndpoint(clientV4, 40000 + UInt16(round))
            deliver(tcpPacket(from: client, to: Self.server, seq: 1000, flags: .syn), to: stack)
            let synAck = try #require(drain(stack).first.flatMap(parseTCP), "round \(round): the SYN was answered")
            #expect(synAck.flags == [.syn, .ack])
            deliver(tcpPacket(from: client, to: Self.server, seq: 1001, ack: synAck.sequenceNumber &+ 1, flags: .ack), to: stack)
            let socket = try #require(try stack.accept(listener))
            stack.close(socket, now: .zero)
            _ = drain(stack)
            deliver(tcpPacket(from: client, to: Self.server, seq: 1001, ack: synAck.sequenceNumber &+ 2, flags: [.fin, .ack]), to: stack)
            _ = drain(stack)
        }
        #expect(stack.timeWaitCount == 5)
        #expect(stack.counters.tcpPerAddressLimitDrops == 0)
        #expect(stack.tcpPassiveByRemote[clientV4] == nil)
    }

    @Test("Linux tcp_max_tw_buckets: a full connection table drops its oldest TIME-WAIT record for a new SYN instead of the SYN")
    func aFullTableReclaimsTheOldestRecord() throws {
        let stack = makeStack { $0.maximumConnections = 3 }
        let listener = try stack.listen(port: 80)
        for round in 0..<4 {
            let client = IPEndpoint(clientV4, 41000 + UInt16(round))
            let now = NetInstant.zero + .seconds(round)
            deliver(tcpPacket(from: client, to: Self.server, seq: 1000, flags: .syn), to: stack, now: now)
            let synAck = try #require(drain(stack, now: now).first.flatMap(parseTCP), "round \(round): the SYN was answered")
            deliver(tcpPacket(from: client, to: Self.server, seq: 1001, ack: synAck.sequenceNumber &+ 1, flags: .ack), to: stack, now: now)
            let socket = try #require(try stack.accept(listener))
            stack.close(socket, now: now)
            _ = drain(stack, now: now)
            deliver(tcpPacket(from: client, to: Self.server, seq: 1001, ack: synAck.sequenceNumber &+ 2, flags: [.fin, .ack]), to: stack, now: now)
            _ = drain(stack, now: now)
        }
        // Three records fit; the fourth connection took the place of the first one's record.
        #expect(stack.timeWaitCount == 3)
        #expect(stack.counters.tcpTimeWaitReclaimed == 1)
        #expect(stack.counters.tcpBacklogDrops == 0)
        #expect(stack.tcpTimeWait[TCPFlow(local: Self.server, remote: IPEndpoint(clientV4, 41000))] == nil)
        #expect(stack.tcpTimeWait[TCPFlow(local: Self.server, remote: IPEndpoint(clientV4, 41003))] != nil)
    }

}
