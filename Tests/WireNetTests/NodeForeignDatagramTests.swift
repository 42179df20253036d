#if canImport(Glibc)
import Glibc
#endif
import Relay
import Testing
import UDPTransport
import Wire
import WireGuard
@testable import WireNet

/// A node's socket drops datagrams that are not WireGuard, disco or STUN in the kernel, from the
/// start: a garbage flood never reaches the engine, and real disco packets of every kind pass.
@Suite struct NodeForeignDatagramTests {
    /// Sends each of `datagrams` to 127.0.0.1:`port` from `fd`.
    static func send(_ datagrams: [[UInt8]], from fd: CInt, to port: UInt16) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = port.bigEndian
        for datagram in datagrams {
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                    _ = datagram.withUnsafeBytes {
                        sendto(fd, $0.baseAddress, $0.count, 0, raw, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
    }

    @Test func garbageNeverReachesTheEngineAndTheEstablishedPeerKeepsTalking() async throws {
        let pair = try await NodePair.start()
        let listener = try await pair.server.listen(tcp: 9201)
        let echo = Task {
            while let stream = try await listener.accept() {
                while let chunk = try await stream.read() { try await stream.write(chunk) }
                stream.close()
            }
        }
        try await NodeHandshakeSamplingTests.echo(pair, "before the garbage", port: 9201)
        let (engine, _) = try pair.server.runningEngine()
        let filter = try await engine.query { $0.transport.inboundFilter }
        #expect(filter.dropsForeignDatagrams)

        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        // What the device would count as an unknown type or a wrong length if it saw it: random
        // bytes (as perf/floods/flood.py sends; a type word 1-4 or a magic is 1 in ~10⁹) and
        // handshake messages one byte short.
        var random = SystemRandomNumberGenerator()
        let garbage = (0..<2000).map { _ in
            (0..<Int.random(in: 32...1400, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
        let short = (0..<200).map { index -> [UInt8] in
            var message = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: index % 2 == 0 ? 147 : 91)
            message[0...3] = index % 2 == 0 ? [1, 0, 0, 0] : [2, 0, 0, 0]
            return message
        }
        // Then a marker the filter passes and the device drops as for no session of its own (a
        // transport message for an index it never handed out): once it is counted, everything sent
        // before it has been through the kernel.
        var marker = [UInt8](repeating: 0, count: 48)
        marker[0...7] = [4, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF]
        let markersBefore = try await engine.query { $0.device.drops[.unknownReceiverIndex] }
        Self.send(garbage + short + [marker], from: fd, to: engine.localPort)
        var markers = markersBefore
        for _ in 0..<100 where markers == markersBefore {
            try await Task.sleep(for: .milliseconds(20))
            markers = try await engine.query { $0.device.drops[.unknownReceiverIndex] }
        }
        #expect(markers > markersBefore, "the marker never reached the device")
        let unknownTypes = try await engine.query { $0.device.drops[.unknownMessageType] }
        let wrongLengths = try await engine.query { $0.device.drops[.invalidLength] }
        #expect(unknownTypes == 0, "\(unknownTypes) garbage datagrams reached the device")
        #expect(wrongLengths == 0, "\(wrongLengths) short handshake messages reached the device")

        try await NodeHandshakeSamplingTests.echo(pair, "after the garbage", port: 9201)
        listener.close()
        echo.cancel()
        await pair.close()
    }

    /// Real disco packets, sealed as a tailnet peer seals them, pass the filter a node's socket
    /// has: ping (with and without the node key), pong, call-me-maybe, and padded ones.
    @Test func realDiscoPacketsPassTheFilter() throws {
        let transport = try UDPTransport(configuration: UDPTransport.Configuration(port: 0, backend: .portable))
        defer { transport.close() }
        try transport.setInboundFilter(UDPTransport.InboundFilter(dropsForeignDatagrams: true))
        let sender = PrivateKey()
        let receiver = PrivateKey()
        let box = try #require(NaClBox(privateKey: sender, peer: receiver.publicKey))
        let id = DiscoTransactionID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C)
        let messages: [DiscoMessage] = [
            .ping(id, nodeKey: nil),
            .ping(id, nodeKey: PrivateKey().publicKey),
            .pong(id, source: .v4(127, 0, 0, 1, port: 41641)),
            .callMeMaybe([]),
            .callMeMaybe([.v4(192, 0, 2, 1, port: 1), IPEndpoint(IPAddress("2001:db8::1")!, 2)]),
        ]
        var packets = messages.map { DiscoPacket.seal($0, from: sender.publicKey, with: box) }
        packets.append(DiscoPacket.seal(.ping(id, nodeKey: nil), from: sender.publicKey, with: box, padding: 1000))
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        Self.send(packets, from: fd, to: transport.localPort)
        var batch = ReceiveBatch()
        var arrived: [[UInt8]] = []
        for _ in 0..<30 where arrived.count < packets.count {
            try transport.receive(into: &batch, timeout: .milliseconds(100))
            arrived += batch.datagrams.map { Array(UnsafeRawBufferPointer($0.bytes)) }
        }
        transport.recycle(&batch)
        #expect(arrived == packets)
        // The shortest: an empty call-me-maybe is magic, key, nonce, 2 bytes of message and the tag.
        #expect(packets.map(\.count).min() == DiscoProtocol.headerLength + 2 + NaClBox.tagLength)
    }
}
