/// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) over a few 64-bit
/// words: the keyed pseudorandom function F() that RFC 6528 §3 (ISS), RFC 7323 §5.4 (timestamp
/// offsets) and RFC 6056 §3.3.3 (ephemeral ports) ask for. Hashes whole words, so callers pack their
/// input into `UInt64`s; the result is not meant to match other SipHash implementations byte for byte.
struct SipHash {
    let k0: UInt64
    let k1: UInt64

    init(k0: UInt64, k1: UInt64) {
        self.k0 = k0
        self.k1 = k1
    }

    /// The PRF of five words (two addresses of up to 128 bits and one word of ports and domain).
    func hash(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64, _ w4: UInt64) -> UInt64 {
        var v0 = k0 ^ 0x736f_6d65_7073_6575
        var v1 = k1 ^ 0x646f_7261_6e64_6f6d
        var v2 = k0 ^ 0x6c79_6765_6e65_7261
        var v3 = k1 ^ 0x7465_6462_7974_6573
        @inline(__always) func round() {
            v0 &+= v1; v1 = (v1 << 13) | (v1 >> 51); v1 ^= v0; v0 = (v0 << 32) | (v0 >> 32)
            v2 &+= v3; v3 = (v3 << 16) | (v3 >> 48); v3 ^= v2
            v0 &+= v3; v3 = (v3 << 21) | (v3 >> 43); v3 ^= v0
            v2 &+= v1; v1 = (v1 << 17) | (v1 >> 47); v1 ^= v2; v2 = (v2 << 32) | (v2 >> 32)
        }
        @inline(__always) func compress(_ m: UInt64) {
            v3 ^= m
            round(); round()
            v0 ^= m
        }
        compress(w0); compress(w1); compress(w2); compress(w3); compress(w4)
        // Final block: the message length in bytes (40) in the top byte.
        let b = UInt64(40) << 56
        v3 ^= b
        round(); round()
        v0 ^= b
        v2 ^= 0xff
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}
