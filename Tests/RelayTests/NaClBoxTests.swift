import CSodium
import Relay
import Testing
import WireGuard

@Suite("NaCl box")
struct NaClBoxTests {
    /// Fixed scalars so the raw bytes can also go to libsodium's one-shot `crypto_box_easy`.
    static let aliceBytes = Key32(bytes: (0..<32).map { UInt8($0) &* 7 &+ 1 })!
    static let bobBytes = Key32(bytes: (0..<32).map { UInt8($0) &* 13 &+ 5 })!

    @Test("a sealed message is nonce-first and opens with libsodium's crypto_box_open_easy")
    func sealMatchesCryptoBox() throws {
        let alice = PrivateKey(Self.aliceBytes)
        let bob = PrivateKey(Self.bobBytes)
        let box = try #require(NaClBox(privateKey: alice, peer: bob.publicKey))
        let message = Array("{\"version\":2,\"CanAckPings\":true}".utf8)
        let sealed = box.seal(message)
        #expect(sealed.count == message.count + 40)

        var opened = [UInt8](repeating: 0, count: message.count)
        let nonce = Array(sealed[0..<24])
        let cipher = Array(sealed[24...])
        let alicePublic = alice.publicKey.key.bytes
        let bobSecret = Self.bobBytes.bytes
        let status = crypto_box_open_easy(&opened, cipher, UInt64(cipher.count), nonce, alicePublic, bobSecret)
        #expect(status == 0)
        #expect(opened == message)
    }

    @Test("a message sealed by crypto_box_easy opens with the peer's box")
    func opensCryptoBox() throws {
        let alice = PrivateKey(Self.aliceBytes)
        let bob = PrivateKey(Self.bobBytes)
        let message = Array("hello relay".utf8)
        var nonce = [UInt8](repeating: 9, count: 24)
        var cipher = [UInt8](repeating: 0, count: message.count + 16)
        #expect(crypto_box_easy(&cipher, message, UInt64(message.count), &nonce, bob.publicKey.key.bytes, Self.aliceBytes.bytes) == 0)
        let bobsBox = try #require(NaClBox(privateKey: bob, peer: alice.publicKey))
        let opened = (nonce + cipher).withUnsafeBytes { bobsBox.open($0) }
        #expect(opened == message)
    }

    @Test("a box with a flipped bit, a wrong key or too few bytes does not open")
    func rejectsTampering() throws {
        let alice = PrivateKey(), bob = PrivateKey(), eve = PrivateKey()
        let box = try #require(NaClBox(privateKey: alice, peer: bob.publicKey))
        var sealed = box.seal([1, 2, 3])
        let bobsBox = try #require(NaClBox(privateKey: bob, peer: alice.publicKey))
        let evesBox = try #require(NaClBox(privateKey: eve, peer: alice.publicKey))
        #expect(sealed.withUnsafeBytes { bobsBox.open($0) } == [1, 2, 3])
        #expect(sealed.withUnsafeBytes { evesBox.open($0) } == nil)
        sealed[30] ^= 1
        #expect(sealed.withUnsafeBytes { bobsBox.open($0) } == nil)
        #expect([UInt8](repeating: 0, count: 39).withUnsafeBytes { bobsBox.open($0) } == nil)
    }

    @Test("two seals of one message use different nonces")
    func freshNonces() throws {
        let box = try #require(NaClBox(privateKey: PrivateKey(), peer: PrivateKey().publicKey))
        #expect(box.seal([7])[0..<24] != box.seal([7])[0..<24])
    }

    @Test("a low-order peer key (all zeros) gives no box")
    func lowOrderKey() {
        #expect(NaClBox(privateKey: PrivateKey(), peer: PublicKey(Key32())) == nil)
    }
}
