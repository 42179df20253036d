import CSodium

/// ChaCha20-Poly1305 (RFC 8439, libsodium's IETF variant) as WireGuard uses it: a 64-bit counter
/// nonce, little-endian, after four zero bytes (WireGuard paper §5.4, `AEAD`).
public enum ChaCha20Poly1305 {
    /// Authentication tag length.
    public static let tagSize = 16

    /// The 12-byte nonce as three packed 32-bit words: zero, then the counter's low and high halves,
    /// each little-endian in memory.
    @inline(__always)
    static func nonce(_ counter: UInt64) -> (UInt32, UInt32, UInt32) {
        (0, UInt32(truncatingIfNeeded: counter).littleEndian, UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
    }

    /// Encrypts `length` bytes at `text` in place and writes the tag right after them
    /// (so `text` must have `length + 16` bytes of room).
    @inline(__always)
    public static func seal(
        key: UnsafeRawPointer, counter: UInt64, text: UnsafeMutableRawPointer, length: Int,
        additionalData: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) {
        // sodium_init() selects the SIMD implementations; without it libsodium runs its portable code.
        precondition(Sodium.initialized)
        var nonceValue = nonce(counter)
        withUnsafeBytes(of: &nonceValue) { nonceBytes in
            let bytes = text.assumingMemoryBound(to: UInt8.self)
            _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                bytes, bytes + length, nil,
                bytes, UInt64(length),
                additionalData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(additionalData.count),
                nil,
                nonceBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                key.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Verifies the tag after `length` ciphertext bytes at `text` and decrypts them in place;
    /// false (with `text` unchanged) when authentication fails.
    @inline(__always)
    public static func open(
        key: UnsafeRawPointer, counter: UInt64, text: UnsafeMutableRawPointer, length: Int,
        additionalData: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) -> Bool {
        precondition(Sodium.initialized)
        var nonceValue = nonce(counter)
        return withUnsafeBytes(of: &nonceValue) { nonceBytes in
            let bytes = text.assumingMemoryBound(to: UInt8.self)
            return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                bytes, nil,
                bytes, UInt64(length),
                bytes + length,
                additionalData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(additionalData.count),
                nonceBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                key.assumingMemoryBound(to: UInt8.self)) == 0
        }
    }

    /// Convenience for 32-byte keys held in a ``Key32``.
    public static func seal(
        key: Key32, counter: UInt64, text: UnsafeMutableRawPointer, length: Int,
        additionalData: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) {
        key.withUnsafeBytes { seal(key: $0.baseAddress!, counter: counter, text: text, length: length, additionalData: additionalData) }
    }

    public static func open(
        key: Key32, counter: UInt64, text: UnsafeMutableRawPointer, length: Int,
        additionalData: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) -> Bool {
        key.withUnsafeBytes { open(key: $0.baseAddress!, counter: counter, text: text, length: length, additionalData: additionalData) }
    }
}

/// XChaCha20-Poly1305 (24-byte random nonce), used only for cookie replies (WireGuard paper §5.4.7).
public enum XChaCha20Poly1305 {
    /// Nonce length.
    public static let nonceSize = 24

    /// Encrypts `length` bytes at `text` in place and writes the 16-byte tag after them.
    public static func seal(
        key: Key32, nonce: UnsafeRawBufferPointer, text: UnsafeMutableRawPointer, length: Int,
        additionalData: UnsafeRawBufferPointer
    ) {
        precondition(nonce.count == nonceSize && Sodium.initialized)
        key.withUnsafeBytes { keyBytes in
            let bytes = text.assumingMemoryBound(to: UInt8.self)
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                bytes, bytes + length, nil, bytes, UInt64(length),
                additionalData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(additionalData.count),
                nil, nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Decrypts `length` ciphertext bytes followed by a tag, writing the plaintext to `output`.
    public static func open(
        key: Key32, nonce: UnsafeRawBufferPointer, ciphertext: UnsafeRawPointer, length: Int,
        additionalData: UnsafeRawBufferPointer, output: UnsafeMutableRawPointer
    ) -> Bool {
        precondition(nonce.count == nonceSize && Sodium.initialized)
        return key.withUnsafeBytes { keyBytes in
            let input = ciphertext.assumingMemoryBound(to: UInt8.self)
            return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                output.assumingMemoryBound(to: UInt8.self), nil, input, UInt64(length), input + length,
                additionalData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(additionalData.count),
                nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
        }
    }
}
