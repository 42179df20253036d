/// MAC1/MAC2 and cookies, WireGuard's DoS mitigation (paper §5.4.4, §5.4.7).
///
/// `MAC(key, input)` is keyed BLAKE2s with a 16-byte output. `mac1` covers the message up to mac1 and
/// is keyed with `HASH("mac1----" ‖ S_pub_receiver)`; `mac2` covers the message up to mac2 and is keyed
/// with the cookie the receiver handed out, `MAC(R_secret, source IP ‖ port)`.
enum CookieLabels {
    /// Paper §5.4: `Label-Mac1`.
    static let mac1 = "mac1----"
    /// Paper §5.4: `Label-Cookie`.
    static let cookie = "cookie--"

    static func key(label: String, publicKey: PublicKey) -> Key32 {
        var state = BLAKE2s()
        state.update(label.utf8)
        state.update(publicKey.key)
        return state.finalize()
    }
}

/// A 16-byte MAC value.
struct MAC16 {
    var storage: (UInt64, UInt64) = (0, 0)

    /// `MAC(key, data)`: keyed BLAKE2s-128.
    static func compute(key: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer) -> MAC16 {
        var state = BLAKE2s(outputSize: 16, key: key)
        state.update(data)
        var mac = MAC16()
        withUnsafeMutableBytes(of: &mac.storage) { state.finalize(into: $0) }
        return mac
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage, body)
    }

    /// Constant-time comparison with 16 bytes in a message.
    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        withUnsafeBytes { Sodium.constantTimeEquals($0, bytes) }
    }

    mutating func wipe() {
        Swift.withUnsafeMutableBytes(of: &storage) { Sodium.wipe($0) }
    }
}

/// The receiving side (one per device, keyed by our own public key; wireguard-go `CookieChecker`):
/// checks MAC1 always and MAC2 under load, and writes cookie replies.
final class CookieChecker {
    private var mac1Key: Key32
    private var cookieEncryptionKey: Key32
    private var secret = Key32()
    private var secretCreated: NetInstant?

    init(localPublicKey: PublicKey) {
        mac1Key = CookieLabels.key(label: CookieLabels.mac1, publicKey: localPublicKey)
        cookieEncryptionKey = CookieLabels.key(label: CookieLabels.cookie, publicKey: localPublicKey)
    }

    deinit {
        mac1Key.wipe()
        cookieEncryptionKey.wipe()
        secret.wipe()
    }

    /// Checks mac1 of a handshake message (the 16 bytes 32 before its end).
    func checkMAC1(_ message: UnsafeRawBufferPointer) -> Bool {
        let macOffset = message.count - 2 * MACLayout.size
        let expected = mac1Key.withUnsafeBytes { MAC16.compute(key: $0, message.range(0, count: macOffset)) }
        return expected.matches(message.range(macOffset, count: MACLayout.size))
    }

    /// The cookie for `source` under the current secret (`MAC(R_secret, A)`).
    private func cookie(for source: IPEndpoint) -> MAC16 {
        var state = secret.withUnsafeBytes { BLAKE2s(outputSize: 16, key: $0) }
        source.absorb(into: &state)
        var mac = MAC16()
        withUnsafeMutableBytes(of: &mac.storage) { state.finalize(into: $0) }
        return mac
    }

    /// Checks mac2 against the cookie `source` would have been given; false once the secret is stale.
    func checkMAC2(_ message: UnsafeRawBufferPointer, source: IPEndpoint, now: NetInstant) -> Bool {
        guard let created = secretCreated, now.since(created) <= ProtocolConstants.cookieRefreshTime else { return false }
        var cookie = cookie(for: source)
        defer { cookie.wipe() }
        let macOffset = message.count - MACLayout.size
        let expected = cookie.withUnsafeBytes { MAC16.compute(key: $0, message.range(0, count: macOffset)) }
        return expected.matches(message.range(macOffset, count: MACLayout.size))
    }

    /// Writes a 64-byte cookie reply to `message` into `reply`, rotating the secret when it is older
    /// than two minutes (paper §5.4.7).
    func writeReply(
        to message: UnsafeRawBufferPointer, receiverIndex: UInt32, source: IPEndpoint, now: NetInstant,
        into reply: UnsafeMutableRawBufferPointer
    ) {
        if secretCreated.map({ now.since($0) > ProtocolConstants.cookieRefreshTime }) ?? true {
            secret.withUnsafeMutableBytes { Sodium.randomBytes($0) }
            secretCreated = now
        }
        var cookie = cookie(for: source)
        defer { cookie.wipe() }
        reply.storeLittleEndian(MessageType.cookieReply.rawValue, at: 0)
        reply.storeLittleEndian(receiverIndex, at: CookieReplyLayout.receiver)
        let nonce = reply.range(CookieReplyLayout.nonce, count: XChaCha20Poly1305.nonceSize)
        Sodium.randomBytes(nonce)
        let sealed = reply.range(CookieReplyLayout.encryptedCookie, count: CookieReplyLayout.encryptedCookieLength)
        cookie.withUnsafeBytes { sealed.copyMemory(from: $0) }
        let mac1 = message.range(message.count - 2 * MACLayout.size, count: MACLayout.size)
        XChaCha20Poly1305.seal(
            key: cookieEncryptionKey, nonce: UnsafeRawBufferPointer(nonce), text: sealed.baseAddress!, length: 16,
            additionalData: mac1)
    }
}

/// The sending side (one per peer, keyed by the peer's public key; wireguard-go `CookieGenerator`):
/// adds mac1 and, while it holds a fresh cookie, mac2 to our handshake messages.
final class CookieGenerator {
    private var mac1Key: Key32
    private var cookieEncryptionKey: Key32
    private var cookie = MAC16()
    private var cookieReceived: NetInstant?
    private var lastMAC1 = MAC16()
    private var hasLastMAC1 = false

    init(peerPublicKey: PublicKey) {
        mac1Key = CookieLabels.key(label: CookieLabels.mac1, publicKey: peerPublicKey)
        cookieEncryptionKey = CookieLabels.key(label: CookieLabels.cookie, publicKey: peerPublicKey)
    }

    deinit {
        mac1Key.wipe()
        cookieEncryptionKey.wipe()
        cookie.wipe()
    }

    /// True while a cookie younger than two minutes is held (mac2 will be sent).
    func hasFreshCookie(now: NetInstant) -> Bool {
        cookieReceived.map { now.since($0) <= ProtocolConstants.cookieRefreshTime } ?? false
    }

    /// Fills mac1 and mac2 (zeros without a fresh cookie) at the end of `message`.
    func addMACs(_ message: UnsafeMutableRawBufferPointer, now: NetInstant) {
        let mac1Offset = message.count - 2 * MACLayout.size
        let mac2Offset = message.count - MACLayout.size
        let mac1 = mac1Key.withUnsafeBytes { MAC16.compute(key: $0, UnsafeRawBufferPointer(message.range(0, count: mac1Offset))) }
        mac1.withUnsafeBytes { message.range(mac1Offset, count: MACLayout.size).copyMemory(from: $0) }
        lastMAC1 = mac1
        hasLastMAC1 = true
        let mac2Field = message.range(mac2Offset, count: MACLayout.size)
        guard hasFreshCookie(now: now) else {
            mac2Field.initializeMemory(as: UInt8.self, repeating: 0)
            return
        }
        let mac2 = cookie.withUnsafeBytes { MAC16.compute(key: $0, UnsafeRawBufferPointer(message.range(0, count: mac2Offset))) }
        mac2.withUnsafeBytes { mac2Field.copyMemory(from: $0) }
    }

    /// Decrypts a cookie reply to our last message; false if we sent nothing or it does not verify.
    func consumeReply(_ reply: UnsafeRawBufferPointer, now: NetInstant) -> Bool {
        guard hasLastMAC1 else { return false }
        var opened = MAC16()
        let ok = lastMAC1.withUnsafeBytes { additional in
            withUnsafeMutableBytes(of: &opened.storage) { output in
                XChaCha20Poly1305.open(
                    key: cookieEncryptionKey, nonce: reply.range(CookieReplyLayout.nonce, count: XChaCha20Poly1305.nonceSize),
                    ciphertext: reply.baseAddress! + CookieReplyLayout.encryptedCookie, length: 16,
                    additionalData: additional, output: output.baseAddress!)
            }
        }
        guard ok else { return false }
        cookie = opened
        cookieReceived = now
        return true
    }
}
