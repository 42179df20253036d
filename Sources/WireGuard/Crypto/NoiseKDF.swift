import CSodium

/// HMAC-BLAKE2s (RFC 2104 over BLAKE2s-256, 64-byte block) and the HKDF of the WireGuard paper
/// (§5.4: `KDF_n(key, input)` built from `HMAC`, Noise's HKDF with BLAKE2s).
public enum NoiseKDF {
    /// RFC 2104 inner padding byte.
    private static let innerPad: UInt8 = 0x36
    /// RFC 2104 outer padding byte.
    private static let outerPad: UInt8 = 0x5C

    /// `HMAC(key, input)` with BLAKE2s-256; `key` is at most one block (WireGuard keys are 32 bytes).
    public static func hmac(key: UnsafeRawBufferPointer, _ inputs: UnsafeRawBufferPointer...) -> Key32 {
        hmac(key: key, inputs: inputs)
    }

    static func hmac(key: UnsafeRawBufferPointer, inputs: [UnsafeRawBufferPointer]) -> Key32 {
        precondition(key.count <= BLAKE2s.blockSize)
        return withUnsafeTemporaryAllocation(byteCount: BLAKE2s.blockSize, alignment: 8) { pad in
            defer { sodium_memzero(pad.baseAddress!, pad.count) }
            // Inner hash: H((K ⊕ ipad) ‖ input).
            fillPad(pad, key: key, with: innerPad)
            var inner = BLAKE2s()
            inner.update(UnsafeRawBufferPointer(pad))
            for input in inputs { inner.update(input) }
            var innerDigest = inner.finalize()
            defer { innerDigest.wipe() }
            // Outer hash: H((K ⊕ opad) ‖ inner).
            fillPad(pad, key: key, with: outerPad)
            var outer = BLAKE2s()
            outer.update(UnsafeRawBufferPointer(pad))
            outer.update(innerDigest)
            return outer.finalize()
        }
    }

    /// `pad = (key ‖ zeros) ⊕ byte…`, eight bytes at a time: it runs twice per HMAC, and a branch per
    /// byte cost more than the XOR.
    private static func fillPad(_ pad: UnsafeMutableRawBufferPointer, key: UnsafeRawBufferPointer, with byte: UInt8) {
        pad.initializeMemory(as: UInt8.self, repeating: byte)
        let wholeWords = key.count / 8
        let pattern = UInt64(byte) &* 0x0101_0101_0101_0101
        for word in 0..<wholeWords {
            let offset = word * 8
            pad.storeBytes(of: key.loadUnaligned(fromByteOffset: offset, as: UInt64.self) ^ pattern,
                           toByteOffset: offset, as: UInt64.self)
        }
        for index in (wholeWords * 8)..<key.count {
            pad[index] = key[index] ^ byte
        }
    }

    /// `KDF_1(key, input)`: τ₀ = HMAC(key, input), τ₁ = HMAC(τ₀, 0x1).
    public static func kdf1(key: Key32, input: UnsafeRawBufferPointer) -> Key32 {
        var first = Key32()
        var unused1 = Key32(), unused2 = Key32()
        derive(key: key, input: input, count: 1, &first, &unused1, &unused2)
        return first
    }

    /// `KDF_2(key, input)` → (τ₁, τ₂), τ₂ = HMAC(τ₀, τ₁ ‖ 0x2).
    public static func kdf2(key: Key32, input: UnsafeRawBufferPointer) -> (Key32, Key32) {
        var first = Key32(), second = Key32(), unused = Key32()
        derive(key: key, input: input, count: 2, &first, &second, &unused)
        return (first, second)
    }

    /// `KDF_3(key, input)` → (τ₁, τ₂, τ₃), τ₃ = HMAC(τ₀, τ₂ ‖ 0x3).
    public static func kdf3(key: Key32, input: UnsafeRawBufferPointer) -> (Key32, Key32, Key32) {
        var first = Key32(), second = Key32(), third = Key32()
        derive(key: key, input: input, count: 3, &first, &second, &third)
        return (first, second, third)
    }

    /// `KDF_n` with a 32-byte input.
    public static func kdf1(key: Key32, input: Key32) -> Key32 {
        input.withUnsafeBytes { kdf1(key: key, input: $0) }
    }

    private static func derive(
        key: Key32, input: UnsafeRawBufferPointer, count: Int,
        _ first: inout Key32, _ second: inout Key32, _ third: inout Key32
    ) {
        var prk = key.withUnsafeBytes { hmac(key: $0, inputs: [input]) }
        defer { prk.wipe() }
        prk.withUnsafeBytes { prkBytes in
            var counter: UInt8 = 1
            first = withUnsafeBytes(of: counter) { hmac(key: prkBytes, inputs: [$0]) }
            guard count > 1 else { return }
            counter = 2
            second = first.withUnsafeBytes { previous in
                withUnsafeBytes(of: counter) { hmac(key: prkBytes, inputs: [previous, $0]) }
            }
            guard count > 2 else { return }
            counter = 3
            third = second.withUnsafeBytes { previous in
                withUnsafeBytes(of: counter) { hmac(key: prkBytes, inputs: [previous, $0]) }
            }
        }
    }
}
