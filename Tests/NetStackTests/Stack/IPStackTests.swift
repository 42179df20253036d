import Testing
import Wire
@testable import NetStack

@Suite("IPStack: IP, ICMP, UDP, closed ports, bad input")
struct IPStackTests {
    @Test("RFC 1122 §3.2.2.6: an ICMP echo request gets a reply with the same identifier, sequence and data")
    func icmpv4Echo() {
        let stack = makeStack()
        let data: [UInt8] = Array(0..<56)
        let request = ipPacket(from: clientV4, to: stackV4, protocol: .icmp, payloadLength: 8 + data.count) { area in
            data.withUnsafeBytes { d in
                _ = try! ICMPv4.echoRequest(identifier: 0x1234, sequenceNumber: 7, data: d).emit(into: area)
            }
        }
        deliver(request, to: stack)
        let out = drain(stack)
        #expect(out.count == 1)
        out[0].withUnsafeBytes { raw in
            let ip = try! IPv4Packet(validating: raw)
            #expect(ip.isHeaderChecksumValid)
            #expect(IPAddress.v4(ip.source) == stackV4 && IPAddress.v4(ip.destination) == clientV4)
            #expect(ip.timeToLive == 64)
            let icmp = try! ICMPv4Message(validating: ip.payload)
            #expect(icmp.isChecksumValid)
            #expect(icmp.type == .echoReply && icmp.identifier == 0x1234 && icmp.sequenceNumber == 7)
            #expect(Array(icmp.data) == data)
        }
        #expect(stack.counters.icmpEchoRepliesSent == 1)
    }

    @Test("RFC 4443 §4.2: an ICMPv6 echo request gets a reply with the same identifier, sequence and data")
    func icmpv6Echo() {
        let stack = makeStack()
        let data: [UInt8] = Array(repeating: 0xAB, count: 100)
        guard case let .v6(c) = clientV6, case let .v6(s) = stackV6 else { return }
        let request = ipPacket(from: clientV6, to: stackV6, protocol: .icmpv6, payloadLength: 8 + data.count) { area in
            data.withUnsafeBytes { d in
                _ = try! ICMPv6.echoRequest(identifier: 9, sequenceNumber: 1, data: d).emit(into: area, source: c, destination: s)
            }
        }
        deliver(request, to: stack)
        let out = drain(stack)
        #expect(out.count == 1)
        out[0].withUnsafeBytes { raw in
            let ip = try! IPv6Packet(validating: raw)
            #expect(ip.hopLimit == 64)
            let icmp = try! ICMPv6Message(validating: ip.payload)
            #expect(icmp.isChecksumValid(source: ip.source, destination: ip.destination))
            #expect(icmp.type == .echoReply && icmp.identifier == 9 && icmp.sequenceNumber == 1)
            #expect(Array(icmp.data) == data)
        }
    }

    @Test("UDP: bind, send-to and receive-from over IPv4 and IPv6 with valid checksums")
    func udpBothFamilies() throws {
        let a = makeStack()
        var config = IPStackConfiguration(addresses: [clientV4, clientV6])
        config.randomSeed = 7
        let b = IPStack(configuration: config)
        let server = try a.bindUDP(port: 5353)
        let client = try b.bindUDP()
        let clientPort = try b.localPort(of: client)
        for (from, to) in [(clientV4, stackV4), (clientV6, stackV6)] {
            let message: [UInt8] = Array("hello \(to)".utf8)
            try message.withUnsafeBytes { try b.sendUDP(client, to: IPEndpoint(to, 5353), $0) }
            for packet in drain(b) { deliver(packet, to: a) }
            var events: [(SocketHandle, SocketEvents)] = []
            a.pollEvents { events.append(($0, $1)) }
            #expect(events.count == 1 && events[0].0 == .udp(server) && events[0].1.contains(.readable))
            var buffer = [UInt8](repeating: 0, count: 2048)
            let got = try buffer.withUnsafeMutableBytes { try a.receiveUDP(server, into: $0) }
            #expect(got?.length == message.count)
            #expect(got?.from == IPEndpoint(from, clientPort))
            #expect(Array(buffer.prefix(message.count)) == message)
            // Reply back to the sender.
            try message.withUnsafeBytes { try a.sendUDP(server, to: IPEndpoint(from, clientPort), $0) }
            for packet in drain(a) { deliver(packet, to: b) }
            let back = try buffer.withUnsafeMutableBytes { try b.receiveUDP(client, into: $0) }
            #expect(back?.from == IPEndpoint(to, 5353))
        }
        #expect(a.counters.badChecksum == 0 && b.counters.badChecksum == 0)
        #expect(throws: SocketError.self) {
            let big = [UInt8](repeating: 0, count: 1500)
            try big.withUnsafeBytes { try b.sendUDP(client, to: IPEndpoint(stackV4, 5353), $0) }
        }
        #expect(throws: SocketError.addressInUse(IPEndpoint(.v4(.any), 5353))) { try a.bindUDP(port: 5353) }
    }

    @Test("RFC 1122 §4.1.3.1 / RFC 4443 §3.1: UDP to a closed port gets ICMP port unreachable quoting it")
    func udpPortUnreachable() {
        let stack = makeStack()
        let v4 = udpPacket(from: IPEndpoint(clientV4, 1000), to: IPEndpoint(stackV4, 9), payload: [1, 2, 3])
        deliver(v4, to: stack)
        let out4 = drain(stack)
        #expect(out4.count == 1)
        out4[0].withUnsafeBytes { raw in
            let ip = try! IPv4Packet(validating: raw)
            let icmp = try! ICMPv4Message(validating: ip.payload)
            #expect(icmp.isChecksumValid)
            #expect(icmp.type == .destinationUnreachable && icmp.code == 3)
            #expect(Array(icmp.invokingPacket) == v4)
        }
        let v6 = udpPacket(from: IPEndpoint(clientV6, 1000), to: IPEndpoint(stackV6, 9), payload: [4, 5])
        deliver(v6, to: stack)
        let out6 = drain(stack)
        #expect(out6.count == 1)
        out6[0].withUnsafeBytes { raw in
            let ip = try! IPv6Packet(validating: raw)
            let icmp = try! ICMPv6Message(validating: ip.payload)
            #expect(icmp.type == .destinationUnreachable && icmp.code == 4)
            #expect(Array(icmp.invokingPacket) == v6)
        }
        #expect(stack.counters.icmpUnreachableSent == 2)
    }

    @Test("RFC 9293 §3.10.7.1: a SYN to a closed port gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>")
    func closedPortSynGetsReset() {
        let stack = makeStack()
        deliver(tcpPacket(from: IPEndpoint(clientV4, 40000), to: IPEndpoint(stackV4, 81), seq: 1000, flags: .syn), to: stack)
        let out = drain(stack)
        #expect(out.count == 1)
        let rst = parseTCP(out[0])
        #expect(rst?.flags == [.rst, .ack])
        #expect(rst?.sequenceNumber == 0 && rst?.acknowledgmentNumber == 1001)
        #expect(rst?.sourcePort == 81 && rst?.destinationPort == 40000)
    }

    @Test("RFC 9293 §3.10.7.1: an ACK to a closed port gets <SEQ=SEG.ACK><CTL=RST>; a RST gets nothing")
    func closedPortAckGetsReset() {
        let stack = makeStack()
        deliver(tcpPacket(from: IPEndpoint(clientV6, 40000), to: IPEndpoint(stackV6, 81), seq: 5, ack: 777, flags: .ack), to: stack)
        let out = drain(stack)
        #expect(out.count == 1)
        let rst = parseTCP(out[0])
        #expect(rst?.flags == .rst && rst?.sequenceNumber == 777)
        deliver(tcpPacket(from: IPEndpoint(clientV6, 40000), to: IPEndpoint(stackV6, 81), seq: 5, flags: .rst), to: stack)
        #expect(drain(stack).isEmpty)
    }

    @Test("RFC 1812 §4.3.2.8 / RFC 4443 §2.4(f): resets and ICMP errors for closed ports are rate-limited")
    func errorRepliesRateLimited() {
        let stack = makeStack { $0.errorReplyBurst = 10; $0.errorRepliesPerSecond = 100 }
        for i in 0..<100 {
            deliver(tcpPacket(from: IPEndpoint(clientV4, UInt16(30000 + i)), to: IPEndpoint(stackV4, 81), seq: 1, flags: .syn), to: stack)
        }
        #expect(drain(stack).count == 10)
        #expect(stack.counters.errorRepliesRateLimited == 90)
        // 100 ms later: 10 more tokens.
        let later = NetInstant.zero + .milliseconds(100)
        for i in 0..<100 {
            deliver(tcpPacket(from: IPEndpoint(clientV4, UInt16(31000 + i)), to: IPEndpoint(stackV4, 81), seq: 1, flags: .syn), to: stack, now: later)
        }
        #expect(drain(stack, now: later).count == 10)
    }

    @Test("Malformed, truncated, bad-checksum and wrong-address packets are dropped and counted")
    func badInputDroppedAndCounted() {
        let stack = makeStack()
        _ = try? stack.listen(port: 80)
        let good = tcpPacket(from: IPEndpoint(clientV4, 40000), to: IPEndpoint(stackV4, 80), seq: 1, flags: .syn)
        // Truncated.
        deliver(Array(good.prefix(30)), to: stack)
        deliver([], to: stack)
        deliver([0x75, 0, 0], to: stack)
        #expect(stack.counters.malformed == 3)
        // Bad IPv4 header checksum.
        var badHeader = good
        badHeader[10] ^= 0xFF
        deliver(badHeader, to: stack)
        // Bad TCP checksum.
        var badTCP = good
        badTCP[good.count - 1] ^= 0x01
        deliver(badTCP, to: stack)
        #expect(stack.counters.badChecksum == 2)
        // Not our address.
        deliver(tcpPacket(from: IPEndpoint(clientV4, 40000), to: IPEndpoint(IPAddress("100.64.6.99")!, 80), seq: 1, flags: .syn), to: stack)
        #expect(stack.counters.wrongAddress == 1)
        // Our own address as source.
        deliver(tcpPacket(from: IPEndpoint(stackV4, 40000), to: IPEndpoint(stackV4, 80), seq: 1, flags: .syn), to: stack)
        #expect(stack.counters.badSource == 1)
        // Unknown protocol.
        deliver(ipPacket(from: clientV4, to: stackV4, protocol: IPProtocol(200), payloadLength: 4) { _ in }, to: stack)
        #expect(stack.counters.unknownProtocol == 1)
        #expect(drain(stack).isEmpty)
        #expect(stack.connectionCount == 0)
    }

    @Test("RFC 9293 §3.10.7.2: at most `backlog` connections wait in SYN-RECEIVED; with SYN cookies off, a new SYN replaces the oldest")
    func listenBacklog() throws {
        let stack = makeStack { $0.synCookies = false }
        _ = try stack.listen(port: 80, backlog: 2)
        for port: UInt16 in 40000..<40003 {
            deliver(tcpPacket(from: IPEndpoint(clientV4, port), to: IPEndpoint(stackV4, 80), seq: 1, flags: .syn), to: stack)
        }
        let out = drain(stack)
        #expect(out.count == 2)
        #expect(out.allSatisfy { parseTCP($0)?.flags == [.syn, .ack] })
        #expect(Set(out.compactMap { parseTCP($0)?.destinationPort }) == [40001, 40002])
        #expect(stack.counters.tcpSynQueueEvictions == 1)
        #expect(stack.connectionCount == 2)
    }

    @Test("RFC 9293 §3.7.1: the MSS option is the MTU less 40 (IPv4) or 60 (IPv6) bytes")
    func mssFromMTU() throws {
        let stack = makeStack(mtu: 1280)
        _ = try stack.connect(to: IPEndpoint(clientV6, 80), now: .zero)
        _ = try stack.connect(to: IPEndpoint(clientV4, 80), now: .zero)
        let mss = drain(stack).compactMap { parseTCP($0)?.options.maximumSegmentSize }
        #expect(Set(mss) == [1220, 1240])
        #expect(makeStack(mtu: 100).mtu == 1280)
        #expect(makeStack(mtu: 100_000).mtu == 65535)
    }

    @Test("Socket API: accept after the handshake, connected/acceptable/readable events, close releases")
    func handshakeThroughStacks() throws {
        let server = makeStack()
        var config = IPStackConfiguration(addresses: [clientV4])
        config.randomSeed = 3
        config.tcp.timeWaitDuration = .milliseconds(100)
        let client = IPStack(configuration: config)
        let listener = try server.listen(port: 80)
        let socket = try client.connect(to: IPEndpoint(stackV4, 80), now: .zero)
        func exchange() {
            for _ in 0..<4 {
                for p in drain(client) { deliver(p, to: server) }
                for p in drain(server) { deliver(p, to: client) }
            }
        }
        exchange()
        var clientEvents = SocketEvents()
        client.pollEvents { if $0 == .tcp(socket) { clientEvents.formUnion($1) } }
        #expect(clientEvents.contains(.connected))
        var serverEvents = SocketEvents()
        server.pollEvents { if $0 == .listener(listener) { serverEvents.formUnion($1) } }
        #expect(serverEvents.contains(.acceptable))
        let accepted = try #require(try server.accept(listener))
        let message: [UInt8] = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        _ = try message.withUnsafeBytes { try client.send(socket, $0) }
        try client.shutdownWrite(socket)
        exchange()
        var buffer = [UInt8](repeating: 0, count: 100)
        let n = try buffer.withUnsafeMutableBytes { try server.receive(accepted, into: $0) }
        #expect(Array(buffer.prefix(n)) == message)
        #expect(server.status(of: accepted)?.isAtEndOfStream == true)
        #expect(server.status(of: accepted)?.state == .closeWait)
        server.close(accepted, now: .zero)
        exchange()
        #expect(client.status(of: socket)?.state == .timeWait)
        client.close(socket, now: .zero)
        #expect(server.connectionCount == 0)
        client.handleTimers(now: .zero + .milliseconds(100))
        _ = drain(client)
        #expect(client.connectionCount == 0)
        #expect(throws: SocketError.invalidHandle) { try client.send(socket, UnsafeRawBufferPointer(start: nil, count: 0)) }
    }
}
