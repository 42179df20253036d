import Relay
import Testing
import Wire
import WireGuard

@Suite("Disco messages")
struct DiscoTests {
    let id = DiscoTransactionID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C)

    @Test("ping: type 1, version 0, 12-byte transaction ID, node key, padding")
    func pingLayout() throws {
        let nodeKey = PublicKey(Key32(bytes: Array(repeating: 0x44, count: 32))!)
        let bytes = DiscoMessage.ping(id, nodeKey: nodeKey).serialized(padding: 3)
        #expect(bytes == [1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] + Array(repeating: 0x44, count: 32) + [0, 0, 0])
        #expect(try bytes.withUnsafeBytes { try DiscoMessage(parsing: $0) } == .ping(id, nodeKey: nodeKey))
        let old = try ([1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] as [UInt8]).withUnsafeBytes { try DiscoMessage(parsing: $0) }
        #expect(old == .ping(id, nodeKey: nil))
    }

    @Test("pong: the observed source as an IPv4-mapped address and a big-endian port")
    func pongLayout() throws {
        let source = IPEndpoint.v4(10, 251, 6, 2, port: 41641)
        let bytes = DiscoMessage.pong(id, source: source).serialized()
        #expect(bytes[14..<32] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 251, 6, 2, 0xA2, 0xA9])
        #expect(try bytes.withUnsafeBytes { try DiscoMessage(parsing: $0) } == .pong(id, source: source))
    }

    @Test("call-me-maybe: a list of endpoints of both families; a ragged list reads as empty, as disco.go does")
    func callMeMaybe() throws {
        let endpoints = [IPEndpoint.v4(192, 0, 2, 1, port: 1), IPEndpoint(IPAddress("2001:db8::1")!, 2)]
        let bytes = DiscoMessage.callMeMaybe(endpoints).serialized()
        #expect(bytes.count == 2 + 36)
        #expect(try bytes.withUnsafeBytes { try DiscoMessage(parsing: $0) } == .callMeMaybe(endpoints))
        #expect(try Array(bytes.dropLast()).withUnsafeBytes { try DiscoMessage(parsing: $0) } == .callMeMaybe([]))
    }

    @Test("short messages and unknown types are errors")
    func malformed() {
        #expect(throws: DiscoError.short(.ping)) { _ = try ([1, 0, 1] as [UInt8]).withUnsafeBytes { try DiscoMessage(parsing: $0) } }
        #expect(throws: DiscoError.short(.pong)) { _ = try ([2, 0, 1] as [UInt8]).withUnsafeBytes { try DiscoMessage(parsing: $0) } }
        #expect(throws: DiscoError.unknownType(9)) { _ = try ([9, 0] as [UInt8]).withUnsafeBytes { try DiscoMessage(parsing: $0) } }
        #expect(throws: DiscoError.short(nil)) { _ = try ([1] as [UInt8]).withUnsafeBytes { try DiscoMessage(parsing: $0) } }
    }

    @Test("a sealed packet starts with the magic and the sender's disco key and opens only for the receiver")
    func sealAndOpen() throws {
        let a = PrivateKey(), b = PrivateKey(), eve = PrivateKey()
        let message = DiscoMessage.ping(id, nodeKey: nil)
        let packet = DiscoPacket.seal(message, from: a.publicKey, with: NaClBox(privateKey: a, peer: b.publicKey)!)
        #expect(Array(packet[0..<6]) == [0x54, 0x53, 0xF0, 0x9F, 0x92, 0xAC])
        try packet.withUnsafeBytes { raw in
            #expect(DiscoProtocol.looksLikeDisco(raw))
            let view = try DiscoPacket(validating: raw)
            #expect(view.sender == a.publicKey)
            #expect(try view.open(with: NaClBox(privateKey: b, peer: view.sender)!) == message)
            #expect(throws: DiscoError.badBox) { _ = try view.open(with: NaClBox(privateKey: eve, peer: view.sender)!) }
        }
    }

    @Test("a WireGuard message never looks like disco")
    func wireGuardIsNotDisco() {
        for type: UInt8 in 1...4 {
            let message = [type, 0, 0, 0] + [UInt8](repeating: 0x54, count: 144)
            #expect(!message.withUnsafeBytes { DiscoProtocol.looksLikeDisco($0) })
        }
        #expect(throws: DiscoError.notDisco) { _ = try DiscoProtocol.magic.withUnsafeBytes { try DiscoPacket(validating: $0) } }
    }
}
