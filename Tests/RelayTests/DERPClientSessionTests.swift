import Relay
import Testing
import WireGuard

/// The server side of a handshake, as a relay performs it, built from the same primitives.
struct SimulatedRelay {
    let key = PrivateKey()

    var serverKeyFrame: [UInt8] {
        var payload = DERPProtocol.magic
        payload += key.publicKey.key.bytes
        return frame(0x01, payload)
    }

    /// Opens a client-info frame; returns the client's key and JSON.
    func openClientInfo(_ bytes: [UInt8]) -> (PublicKey, String)? {
        guard bytes.count > 37, bytes[0] == 0x02 else { return nil }
        let clientKey = PublicKey(Key32(bytes: bytes[5..<37])!)
        guard let box = NaClBox(privateKey: key, peer: clientKey),
              let json = Array(bytes[37...]).withUnsafeBytes({ box.open($0) }) else { return nil }
        return (clientKey, String(decoding: json, as: UTF8.self))
    }

    func serverInfoFrame(to client: PublicKey, json: String = "{\"version\":2}") -> [UInt8] {
        frame(0x03, NaClBox(privateKey: key, peer: client)!.seal(Array(json.utf8)))
    }
}

func at(_ seconds: Double) -> NetInstant { NetInstant(nanoseconds: UInt64(seconds * 1e9)) }

extension DERPClientSession {
    /// Hands the session one encoded frame and returns a packet's source and a copy of its payload,
    /// taken while the frame's bytes are alive (`.packet` only borrows them), or nil for another event.
    mutating func receivePacket(encoded bytes: [UInt8], now: NetInstant) throws(DERPError) -> (PublicKey, [UInt8])? {
        let payload = Array(bytes[5...])
        let result = payload.withUnsafeBytes { raw in
            Result { () throws(DERPError) -> (PublicKey, [UInt8])? in
                let event = try self.receive(DERPFrame(type: DERPFrameType(rawValue: bytes[0]), payload: raw), now: now)
                guard case let .packet(source, packet) = event else { return nil }
                return (source, Array(packet))
            }
        }
        return try result.get()
    }

    /// Hands the session one encoded frame. A `.packet` event's payload points into a buffer freed on
    /// return: use `receivePacket(encoded:now:)` for packets.
    mutating func receive(encoded bytes: [UInt8], now: NetInstant) throws(DERPError) -> Event {
        let payload = Array(bytes[5...])
        let result = payload.withUnsafeBytes { raw in
            Result { () throws(DERPError) in
                try self.receive(DERPFrame(type: DERPFrameType(rawValue: bytes[0]), payload: raw), now: now)
            }
        }
        return try result.get()
    }
}

@Suite("DERP client session")
struct DERPClientSessionTests {
    let client = PrivateKey()
    let relay = SimulatedRelay()

    /// A session taken through the handshake at t = 0.
    func established(timing: DERPClientSession.Timing = .init()) throws -> DERPClientSession {
        var session = DERPClientSession(privateKey: client, preferred: true, timing: timing, pingSeed: 1, now: at(0))
        _ = try session.receive(encoded: relay.serverKeyFrame, now: at(0))
        _ = try session.receive(encoded: relay.serverInfoFrame(to: client.publicKey), now: at(0))
        return session
    }

    @Test("server key → client info sealed to the relay; server info → established, note-preferred sent")
    func handshake() throws {
        var session = DERPClientSession(privateKey: client, preferred: true, pingSeed: 1, now: at(0))
        guard case .reply(let info) = try session.receive(encoded: relay.serverKeyFrame, now: at(0.1)) else {
            Issue.record("no client info"); return
        }
        let (key, json) = try #require(relay.openClientInfo(info))
        #expect(key == client.publicKey)
        #expect(json == "{\"version\":2,\"CanAckPings\":true}")
        #expect(session.state == .awaitingServerInfo)
        let json2 = "{\"version\":2,\"TokenBucketBytesPerSecond\":1000000,\"TokenBucketBytesBurst\":2000000,\"future\":{\"x\":[1,\"}\"]}}"
        guard case let .established(serverInfo, reply) = try session.receive(
            encoded: relay.serverInfoFrame(to: client.publicKey, json: json2), now: at(0.2)) else {
            Issue.record("not established"); return
        }
        #expect(serverInfo == DERPServerInfo(version: 2, tokenBucketBytesPerSecond: 1_000_000, tokenBucketBytesBurst: 2_000_000))
        #expect(reply == [0x07, 0, 0, 0, 1, 1])
        #expect(session.state == .established)
        #expect(session.serverKey == relay.key.publicKey)
    }

    @Test("a first frame that is not a server key fails the handshake")
    func wrongFirstFrame() {
        var session = DERPClientSession(privateKey: client, preferred: false, pingSeed: 1, now: at(0))
        #expect(throws: DERPError.badServerKey) { _ = try session.receive(encoded: frame(0x06, []), now: at(0)) }
        #expect(session.state == .failed)
    }

    @Test("a server key other than the announced one fails the handshake")
    func unexpectedKey() {
        var session = DERPClientSession(privateKey: client, expectedServerKey: PrivateKey().publicKey, preferred: false, pingSeed: 1, now: at(0))
        #expect(throws: DERPError.unexpectedServerKey) { _ = try session.receive(encoded: relay.serverKeyFrame, now: at(0)) }
    }

    @Test("server info sealed by another key fails the handshake")
    func forgedServerInfo() throws {
        var session = DERPClientSession(privateKey: client, preferred: false, pingSeed: 1, now: at(0))
        _ = try session.receive(encoded: relay.serverKeyFrame, now: at(0))
        #expect(throws: DERPError.badServerInfo) {
            _ = try session.receive(encoded: SimulatedRelay().serverInfoFrame(to: client.publicKey), now: at(0))
        }
    }

    @Test("a received packet yields its source and bytes; a ping is answered with a pong of the same bytes")
    func packetsAndPings() throws {
        var session = try established()
        let source = PrivateKey().publicKey
        // (It read `.packet`'s payload after the frame was freed until AddressSanitizer caught it.)
        guard let (from, payload) = try session.receivePacket(encoded: frame(0x05, source.key.bytes + [1, 2, 3]), now: at(1)) else {
            Issue.record("no packet"); return
        }
        #expect(from == source)
        #expect(payload == [1, 2, 3])
        guard case .reply(let pong) = try session.receive(encoded: frame(0x12, [8, 7, 6, 5, 4, 3, 2, 1, 0, 0]), now: at(1)) else {
            Issue.record("no pong"); return
        }
        #expect(pong == [0x13, 0, 0, 0, 8, 8, 7, 6, 5, 4, 3, 2, 1])
    }

    @Test("after the handshake, malformed and unknown frames are counted and dropped")
    func malformedAfterHandshake() throws {
        var session = try established()
        guard case .none = try session.receive(encoded: frame(0x05, [1, 2]), now: at(1)) else { Issue.record("not dropped"); return }
        guard case .none = try session.receive(encoded: frame(0x33, [1]), now: at(1)) else { Issue.record("not ignored"); return }
        #expect(session.malformedFrames == 1)
        #expect(session.ignoredFrames == 1)
        #expect(session.state == .established)
    }

    @Test("the handshake times out after 10 s")
    func handshakeTimeout() {
        var session = DERPClientSession(privateKey: client, preferred: false, pingSeed: 1, now: at(0))
        #expect(session.nextDeadline == at(10))
        #expect(session.poll(now: at(9.9)) == nil)
        guard case .fail = session.poll(now: at(10)) else { Issue.record("no failure"); return }
        #expect(session.state == .failed)
    }

    @Test("a silent relay is pinged after 30 s and declared dead 5 s later; a pong measures latency")
    func liveness() throws {
        var session = try established()
        #expect(session.nextDeadline == at(30))
        guard case .send(let ping) = session.poll(now: at(30)) else { Issue.record("no ping"); return }
        #expect(ping[0] == 0x12)
        guard case .latency(let rtt) = try session.receive(encoded: frame(0x13, Array(ping[5...])), now: at(30.25)) else {
            Issue.record("no latency"); return
        }
        #expect(rtt == .milliseconds(250))
        #expect(session.nextDeadline == at(60.25))
        guard case .send = session.poll(now: at(60.25)) else { Issue.record("no second ping"); return }
        #expect(session.poll(now: at(65.2)) == nil)
        guard case .fail = session.poll(now: at(65.25)) else { Issue.record("not dead"); return }
    }

    @Test("a relay that keeps sending but loses a pong is not declared dead")
    func lostPong() throws {
        var session = try established()
        _ = session.poll(now: at(30))
        _ = try session.receive(encoded: frame(0x06, []), now: at(31))
        #expect(session.poll(now: at(35)) == nil)
        #expect(session.state == .established)
        #expect(session.nextDeadline == at(61))
    }
}

@Suite("DERP upgrade")
struct DERPUpgradeTests {
    @Test("the request is GET /derp with Upgrade: DERP")
    func request() {
        let text = String(decoding: DERPUpgrade.request(host: "relay.test"), as: UTF8.self)
        #expect(text.hasPrefix("GET /derp HTTP/1.1\r\nHost: relay.test\r\n"))
        #expect(text.contains("Upgrade: DERP\r\n"))
        #expect(text.hasSuffix("\r\n\r\n"))
    }

    @Test("a 101 head is parsed with the relay's key; frames after it are not part of the head")
    func switching() throws {
        let key = PrivateKey().publicKey
        let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Version: 2\r\nDerp-Public-Key: \(key.key.hex)\r\n\r\n"
        let bytes = Array(head.utf8) + [0x01, 0, 0]
        let response = try bytes.withUnsafeBytes { try DERPUpgrade.parseResponse($0) }
        #expect(response == DERPUpgrade.Response(headLength: head.utf8.count, serverKey: key))
        #expect(try Array(head.utf8.dropLast(2)).withUnsafeBytes { try DERPUpgrade.parseResponse($0) } == nil)
    }

    @Test("another status, garbage, or an endless head is refused")
    func refused() {
        #expect(throws: DERPError.upgradeRefused("HTTP status 404 Not Found")) {
            _ = try Array("HTTP/1.1 404 Not Found\r\n\r\n".utf8).withUnsafeBytes { try DERPUpgrade.parseResponse($0) }
        }
        #expect(throws: DERPError.self) {
            _ = try Array("SSH-2.0-OpenSSH\r\n\r\n".utf8).withUnsafeBytes { try DERPUpgrade.parseResponse($0) }
        }
        #expect(throws: DERPError.self) {
            _ = try [UInt8](repeating: 65, count: 9000).withUnsafeBytes { try DERPUpgrade.parseResponse($0) }
        }
    }
}
