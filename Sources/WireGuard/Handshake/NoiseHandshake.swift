/// The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake with WireGuard's identifiers: creation and
/// consumption of messages 1 and 2 and the derivation of transport keys (WireGuard paper §5.4.2–§5.4.5).
///
/// These functions write and read the exact message bytes; MACs, indices and peer lookup are the
/// caller's (``WireGuardDevice``).
enum NoiseHandshake {
    /// Paper §5.4: `Construction`.
    static let construction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
    /// Paper §5.4: `Identifier`.
    static let identifier = "WireGuard v1 zx2c4 Jason@zx2c4.com"

    /// `C_i := HASH(Construction)`.
    static let initialChainKey: Key32 = {
        var state = BLAKE2s()
        state.update(construction.utf8)
        return state.finalize()
    }()

    /// `H_i := HASH(C_i ‖ Identifier)`.
    static let initialHash: Key32 = {
        var state = BLAKE2s()
        state.update(initialChainKey)
        state.update(identifier.utf8)
        return state.finalize()
    }()

    /// `h := HASH(h ‖ data)`.
    @inline(__always)
    static func mixHash(_ hash: inout Key32, _ data: UnsafeRawBufferPointer) {
        var state = BLAKE2s()
        state.update(hash)
        state.update(data)
        hash = state.finalize()
    }

    @inline(__always)
    static func mixHash(_ hash: inout Key32, _ key: Key32) {
        key.withUnsafeBytes { mixHash(&hash, $0) }
    }

    /// A fresh, clamped ephemeral private key.
    static func newEphemeral() -> Key32 {
        var key = Key32()
        key.withUnsafeMutableBytes { raw in
            Sodium.randomBytes(raw)
            raw[0] &= 248
            raw[31] = (raw[31] & 127) | 64
        }
        return key
    }

    // MARK: - Message 1

    /// Writes a handshake initiation (all but the MACs) and moves `handshake` to `.initiationCreated`.
    /// Returns false when the peer's static key is unusable (a low-order point).
    static func createInitiation(
        into message: UnsafeMutableRawBufferPointer, localIndex: UInt32, timestamp: TAI64N,
        local: PrivateKey, peer: Peer
    ) -> Bool {
        let handshake = peer.handshake
        guard !peer.staticStatic.isZero else { return false }
        var hash = initialHash
        var chainKey = initialChainKey
        var ephemeral = newEphemeral()
        var key = Key32()
        defer { hash.wipe(); chainKey.wipe(); ephemeral.wipe(); key.wipe() }

        mixHash(&hash, peer.publicKey.key)
        message.storeLittleEndian(MessageType.handshakeInitiation.rawValue, at: 0)
        message.storeLittleEndian(localIndex, at: HandshakeInitiationLayout.sender)

        // e
        let ephemeralPublic = X25519.publicKey(of: ephemeral)
        message.store(ephemeralPublic, at: HandshakeInitiationLayout.ephemeral)
        chainKey = NoiseKDF.kdf1(key: chainKey, input: ephemeralPublic)
        mixHash(&hash, ephemeralPublic)

        // es
        guard var es = X25519.sharedSecret(privateKey: ephemeral, publicKey: peer.publicKey.key) else { return false }
        (chainKey, key) = es.withUnsafeBytes { NoiseKDF.kdf2(key: chainKey, input: $0) }
        es.wipe()

        // s
        let encryptedStatic = message.range(HandshakeInitiationLayout.encryptedStatic,
                                            count: HandshakeInitiationLayout.encryptedStaticLength)
        encryptedStatic.store(local.publicKey.key, at: 0)
        hash.withUnsafeBytes {
            ChaCha20Poly1305.seal(key: key, counter: 0, text: encryptedStatic.baseAddress!, length: 32, additionalData: $0)
        }
        mixHash(&hash, UnsafeRawBufferPointer(encryptedStatic))

        // ss
        (chainKey, key) = peer.staticStatic.withUnsafeBytes { NoiseKDF.kdf2(key: chainKey, input: $0) }

        // {t}
        let encryptedTimestamp = message.range(HandshakeInitiationLayout.encryptedTimestamp,
                                               count: HandshakeInitiationLayout.encryptedTimestampLength)
        timestamp.write(to: encryptedTimestamp)
        hash.withUnsafeBytes {
            ChaCha20Poly1305.seal(key: key, counter: 0, text: encryptedTimestamp.baseAddress!, length: TAI64N.size, additionalData: $0)
        }
        mixHash(&hash, UnsafeRawBufferPointer(encryptedTimestamp))

        handshake.hash = hash
        handshake.chainKey = chainKey
        handshake.localEphemeral = ephemeral
        handshake.localIndex = localIndex
        handshake.remoteIndex = 0
        handshake.phase = .initiationCreated
        return true
    }

    /// What became of an initiation.
    enum InitiationOutcome {
        case accepted(Peer)
        case decryptionFailed
        case unknownPeer
        case staleTimestamp(Peer)
        case flood(Peer)
        /// Authentic and fresh, but it crossed our own initiation in flight and ours takes precedence:
        /// the timestamp is recorded, the handshake in flight is kept.
        case crossing(Peer)
    }

    /// Decrypts an initiation, finds the peer by its static key, checks timestamp replay and the
    /// per-peer initiation rate, and on success moves the peer's handshake to `.initiationConsumed`
    /// — unless `keepsOwnInitiation(peer)` says our crossing initiation goes first.
    static func consumeInitiation(
        _ message: UnsafeRawBufferPointer, local: PrivateKey, now: NetInstant,
        peerFor: (PublicKey) -> Peer?, keepsOwnInitiation: (Peer) -> Bool = { _ in false }
    ) -> InitiationOutcome {
        var hash = initialHash
        var chainKey = initialChainKey
        var key = Key32()
        defer { hash.wipe(); chainKey.wipe(); key.wipe() }

        mixHash(&hash, local.publicKey.key)
        let ephemeral = Key32(copying: message.range(HandshakeInitiationLayout.ephemeral, count: 32))
        mixHash(&hash, ephemeral)
        chainKey = NoiseKDF.kdf1(key: chainKey, input: ephemeral)

        // es (responder side: s_r × e_i)
        guard var es = X25519.sharedSecret(privateKey: local.key, publicKey: ephemeral) else { return .decryptionFailed }
        (chainKey, key) = es.withUnsafeBytes { NoiseKDF.kdf2(key: chainKey, input: $0) }
        es.wipe()

        // s
        let staticRange = message.range(HandshakeInitiationLayout.encryptedStatic,
                                        count: HandshakeInitiationLayout.encryptedStaticLength)
        var scratch = (Key32(), Key32())  // 64 bytes for a 48-byte ciphertext
        defer { scratch.0.wipe(); scratch.1.wipe() }
        let peerKey: Key32? = withUnsafeMutableBytes(of: &scratch) { buffer in
            buffer.copyMemory(from: staticRange)
            let opened = hash.withUnsafeBytes {
                ChaCha20Poly1305.open(key: key, counter: 0, text: buffer.baseAddress!, length: 32, additionalData: $0)
            }
            return opened ? Key32(copying: UnsafeRawBufferPointer(buffer)) : nil
        }
        guard let peerKey else { return .decryptionFailed }
        mixHash(&hash, staticRange)

        guard let peer = peerFor(PublicKey(peerKey)) else { return .unknownPeer }
        guard !peer.staticStatic.isZero else { return .decryptionFailed }

        // ss
        (chainKey, key) = peer.staticStatic.withUnsafeBytes { NoiseKDF.kdf2(key: chainKey, input: $0) }

        // {t}
        let timestampRange = message.range(HandshakeInitiationLayout.encryptedTimestamp,
                                           count: HandshakeInitiationLayout.encryptedTimestampLength)
        let timestamp: TAI64N? = withUnsafeMutableBytes(of: &scratch) { buffer in
            buffer.copyMemory(from: timestampRange)
            let opened = hash.withUnsafeBytes {
                ChaCha20Poly1305.open(key: key, counter: 0, text: buffer.baseAddress!, length: TAI64N.size, additionalData: $0)
            }
            return opened ? TAI64N(bytes: UnsafeRawBufferPointer(buffer)) : nil
        }
        guard let timestamp else { return .decryptionFailed }
        mixHash(&hash, timestampRange)

        // Replay and flood protection (paper §5.1, §5.3).
        let handshake = peer.handshake
        guard timestamp > handshake.lastTimestamp else { return .staleTimestamp(peer) }
        if let last = handshake.lastInitiationConsumption, now.since(last) <= ProtocolConstants.handshakeInitiationRate {
            return .flood(peer)
        }
        if keepsOwnInitiation(peer) {
            handshake.lastTimestamp = timestamp
            handshake.lastInitiationConsumption = now
            return .crossing(peer)
        }

        handshake.hash = hash
        handshake.chainKey = chainKey
        handshake.remoteIndex = message.littleEndianUInt32(at: HandshakeInitiationLayout.sender)
        handshake.remoteEphemeral = ephemeral
        handshake.lastTimestamp = timestamp
        handshake.lastInitiationConsumption = now
        handshake.phase = .initiationConsumed
        return .accepted(peer)
    }

    // MARK: - Message 2

    /// Writes a handshake response (all but the MACs) to a consumed initiation and moves the
    /// handshake to `.responseCreated`. Returns false if the handshake is not in the right phase or a
    /// Diffie-Hellman result is zero.
    static func createResponse(
        into message: UnsafeMutableRawBufferPointer, localIndex: UInt32, peer: Peer
    ) -> Bool {
        let handshake = peer.handshake
        guard handshake.phase == .initiationConsumed else { return false }
        var hash = handshake.hash
        var chainKey = handshake.chainKey
        var ephemeral = newEphemeral()
        var key = Key32()
        var tau = Key32()
        defer { hash.wipe(); chainKey.wipe(); ephemeral.wipe(); key.wipe(); tau.wipe() }

        message.storeLittleEndian(MessageType.handshakeResponse.rawValue, at: 0)
        message.storeLittleEndian(localIndex, at: HandshakeResponseLayout.sender)
        message.storeLittleEndian(handshake.remoteIndex, at: HandshakeResponseLayout.receiver)

        // e
        let ephemeralPublic = X25519.publicKey(of: ephemeral)
        message.store(ephemeralPublic, at: HandshakeResponseLayout.ephemeral)
        mixHash(&hash, ephemeralPublic)
        chainKey = NoiseKDF.kdf1(key: chainKey, input: ephemeralPublic)

        // ee
        guard var ee = X25519.sharedSecret(privateKey: ephemeral, publicKey: handshake.remoteEphemeral) else { return false }
        chainKey = NoiseKDF.kdf1(key: chainKey, input: ee)
        ee.wipe()

        // se
        guard var se = X25519.sharedSecret(privateKey: ephemeral, publicKey: peer.publicKey.key) else { return false }
        chainKey = NoiseKDF.kdf1(key: chainKey, input: se)
        se.wipe()

        // psk
        var psk = peer.presharedKey?.key ?? Key32()
        (chainKey, tau, key) = psk.withUnsafeBytes { NoiseKDF.kdf3(key: chainKey, input: $0) }
        psk.wipe()
        mixHash(&hash, tau)

        // {}
        let empty = message.range(HandshakeResponseLayout.encryptedNothing, count: HandshakeResponseLayout.encryptedNothingLength)
        hash.withUnsafeBytes {
            ChaCha20Poly1305.seal(key: key, counter: 0, text: empty.baseAddress!, length: 0, additionalData: $0)
        }
        mixHash(&hash, UnsafeRawBufferPointer(empty))

        handshake.hash = hash
        handshake.chainKey = chainKey
        handshake.localIndex = localIndex
        handshake.phase = .responseCreated
        handshake.localEphemeral.wipe()
        return true
    }

    /// Verifies a handshake response for `peer`'s initiation in flight and moves the handshake to
    /// `.responseConsumed`. Returns false on any mismatch or decryption failure.
    static func consumeResponse(_ message: UnsafeRawBufferPointer, local: PrivateKey, peer: Peer) -> Bool {
        let handshake = peer.handshake
        guard handshake.phase == .initiationCreated else { return false }
        var hash = handshake.hash
        var chainKey = handshake.chainKey
        var key = Key32()
        var tau = Key32()
        defer { hash.wipe(); chainKey.wipe(); key.wipe(); tau.wipe() }

        let ephemeral = Key32(copying: message.range(HandshakeResponseLayout.ephemeral, count: 32))
        mixHash(&hash, ephemeral)
        chainKey = NoiseKDF.kdf1(key: chainKey, input: ephemeral)

        // ee
        guard var ee = X25519.sharedSecret(privateKey: handshake.localEphemeral, publicKey: ephemeral) else { return false }
        chainKey = NoiseKDF.kdf1(key: chainKey, input: ee)
        ee.wipe()

        // se (initiator side: s_i × e_r)
        guard var se = X25519.sharedSecret(privateKey: local.key, publicKey: ephemeral) else { return false }
        chainKey = NoiseKDF.kdf1(key: chainKey, input: se)
        se.wipe()

        // psk
        var psk = peer.presharedKey?.key ?? Key32()
        (chainKey, tau, key) = psk.withUnsafeBytes { NoiseKDF.kdf3(key: chainKey, input: $0) }
        psk.wipe()
        mixHash(&hash, tau)

        // {}
        let empty = message.range(HandshakeResponseLayout.encryptedNothing, count: HandshakeResponseLayout.encryptedNothingLength)
        var tag = Key32()
        defer { tag.wipe() }
        let opened = tag.withUnsafeMutableBytes { buffer in
            buffer.copyMemory(from: empty)
            return hash.withUnsafeBytes {
                ChaCha20Poly1305.open(key: key, counter: 0, text: buffer.baseAddress!, length: 0, additionalData: $0)
            }
        }
        guard opened else { return false }
        mixHash(&hash, empty)

        handshake.hash = hash
        handshake.chainKey = chainKey
        handshake.remoteIndex = message.littleEndianUInt32(at: HandshakeResponseLayout.sender)
        handshake.phase = .responseConsumed
        handshake.localEphemeral.wipe()
        return true
    }

    // MARK: - Transport keys

    /// `(T_send, T_recv) := KDF_2(C, ε)` from the initiator's view (paper §5.4.5); the responder
    /// swaps them. Wipes the handshake and returns (send, receive).
    static func deriveTransportKeys(_ handshake: HandshakeState, isInitiator: Bool) -> (send: Key32, receive: Key32) {
        let (first, second) = NoiseKDF.kdf2(key: handshake.chainKey, input: UnsafeRawBufferPointer(start: nil, count: 0))
        return isInitiator ? (first, second) : (second, first)
    }
}
