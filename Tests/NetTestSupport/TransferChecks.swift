import CSodium

/// SHA-256 (libsodium) of everything fed to it, for byte-exact transfer checks.
public struct SHA256Digest {
    private var state = crypto_hash_sha256_state()
    public init() { crypto_hash_sha256_init(&state) }
    public mutating func update(_ bytes: [UInt8]) { crypto_hash_sha256_update(&state, bytes, UInt64(bytes.count)) }
    public mutating func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&state, &out)
        return out
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a transfer's content is not a repeating pattern.
public struct PatternSource {
    private var state: UInt64
    public init(seed: UInt64) { state = seed | 1 }
    public mutating func next(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            out[i] = UInt8(truncatingIfNeeded: state)
        }
        return out
    }
}
