import CSodium

/// BLAKE2s (RFC 7693), the hash of WireGuard's Noise construction: unkeyed 256-bit for `HASH`,
/// keyed 128-bit for MAC1/MAC2 and cookies, and the inner hash of HMAC-BLAKE2s.
///
/// libsodium ships BLAKE2b only, so this is our own implementation. It is a value type with no heap
/// storage; ``finalize(into:)`` wipes the state.
public struct BLAKE2s: Sendable {
    /// Block size in bytes (RFC 7693 §2.1: bb = 64).
    public static let blockSize = 64
    /// Largest digest and key size in bytes (RFC 7693 §2.1: nn, kk ≤ 32).
    public static let maximumOutputSize = 32

    /// RFC 7693 §2.6: the IV is the SHA-256 IV.
    private static let iv: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A, 0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19)

    /// RFC 7693 §2.7: message word schedule SIGMA, ten rounds × sixteen indices.
    private static let sigma: [UInt8] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
        11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
        7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
        9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
        2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
        12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
        13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
        6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
        10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
    ]

    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)
    private var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var bufferCount = 0
    private var byteCounter: UInt64 = 0
    /// Digest length in bytes (1...32).
    public let outputSize: Int

    /// Starts a hash with `outputSize` bytes of output and an optional key of up to 32 bytes
    /// (RFC 7693 §3.3: the key is padded to a full first block).
    public init(outputSize: Int = 32, key: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        precondition((1...Self.maximumOutputSize).contains(outputSize) && key.count <= Self.maximumOutputSize)
        self.outputSize = outputSize
        h = Self.iv
        // Parameter block: digest length, key length, fanout 1, depth 1 (RFC 7693 §2.5).
        h.0 ^= 0x0101_0000 ^ (UInt32(key.count) << 8) ^ UInt32(outputSize)
        if key.count > 0 {
            update(key)
            let zeros = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            withUnsafeBytes(of: zeros) { update(UnsafeRawBufferPointer(rebasing: $0[0..<(Self.blockSize - key.count)])) }
        }
    }

    /// Starts a keyed hash with a 32-byte key.
    public init(outputSize: Int = 32, key: Key32) {
        self = key.withUnsafeBytes { BLAKE2s(outputSize: outputSize, key: $0) }
    }

    /// Absorbs `data`.
    public mutating func update(_ data: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < data.count {
            if bufferCount == Self.blockSize {
                // A full buffered block is compressed only once more input arrives, because the last
                // block must be compressed with the final flag (RFC 7693 §3.3).
                byteCounter &+= UInt64(Self.blockSize)
                compressBuffer(final: false)
                bufferCount = 0
            }
            let take = min(Self.blockSize - bufferCount, data.count - offset)
            let count = bufferCount
            withUnsafeMutableBytes(of: &buffer) { block in
                block.baseAddress!.advanced(by: count).copyMemory(from: data.baseAddress!.advanced(by: offset), byteCount: take)
            }
            bufferCount += take
            offset += take
        }
    }

    /// Absorbs `data`.
    public mutating func update(_ data: some Sequence<UInt8>) {
        for byte in data { withUnsafeBytes(of: byte) { update($0) } }
    }

    /// Absorbs a 32-byte value.
    public mutating func update(_ key: Key32) {
        key.withUnsafeBytes { update($0) }
    }

    /// Writes the digest (``outputSize`` bytes) to `output` and wipes the state.
    public mutating func finalize(into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= outputSize)
        byteCounter &+= UInt64(bufferCount)
        let count = bufferCount
        withUnsafeMutableBytes(of: &buffer) { block in
            _ = block.baseAddress!.advanced(by: count).initializeMemory(as: UInt8.self, repeating: 0, count: Self.blockSize - count)
        }
        compressBuffer(final: true)
        withUnsafeBytes(of: h) { digest in
            for index in 0..<outputSize {
                output[index] = digest[index]  // words are stored little-endian on our targets (RFC 7693 §2.4)
            }
        }
        withUnsafeMutableBytes(of: &h) { sodium_memzero($0.baseAddress!, $0.count) }
        withUnsafeMutableBytes(of: &buffer) { sodium_memzero($0.baseAddress!, $0.count) }
    }

    /// The 32-byte digest of a hash with ``outputSize`` 32.
    public mutating func finalize() -> Key32 {
        precondition(outputSize == 32)
        var out = Key32()
        out.withUnsafeMutableBytes { finalize(into: $0) }
        return out
    }

    /// The digest as an array (tests; allocates).
    public mutating func finalizeToArray() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputSize)
        out.withUnsafeMutableBytes { finalize(into: $0) }
        return out
    }

    /// One-shot unkeyed BLAKE2s-256.
    public static func hash(_ data: UnsafeRawBufferPointer) -> Key32 {
        var state = BLAKE2s()
        state.update(data)
        return state.finalize()
    }

    // MARK: - Compression (RFC 7693 §3.2)

    private mutating func compressBuffer(final: Bool) {
        let counter = byteCounter
        withUnsafeBytes(of: buffer) { block in
            withUnsafeMutableBytes(of: &h) { state in
                Self.compress(
                    state: state.bindMemory(to: UInt32.self), block: block, counter: counter, final: final)
            }
        }
    }

    /// RFC 7693 §3.1: the mixing function G on four words of the working vector.
    @inline(__always)
    private static func mix(
        _ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32, _ d: inout UInt32, _ x: UInt32, _ y: UInt32
    ) {
        a = a &+ b &+ x
        d = (d ^ a).rotatedRight(16)
        c = c &+ d
        b = (b ^ c).rotatedRight(12)
        a = a &+ b &+ y
        d = (d ^ a).rotatedRight(8)
        c = c &+ d
        b = (b ^ c).rotatedRight(7)
    }

    /// The working vector lives in sixteen local variables, not in memory next to the message words:
    /// through one pointer the compiler had to assume every store to v could change m, and kept all
    /// of it in memory. In registers, and with the message words read through the schedule once per
    /// round, a compression is several times faster — it runs for every MAC, cookie and KDF step.
    private static func compress(
        state h: UnsafeMutableBufferPointer<UInt32>, block: UnsafeRawBufferPointer, counter: UInt64, final: Bool
    ) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { words in
            let m = words.baseAddress!
            for i in 0..<16 {
                m[i] = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
            }
            var v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7]
            var v8 = iv.0, v9 = iv.1, v10 = iv.2, v11 = iv.3
            var v12 = iv.4 ^ UInt32(truncatingIfNeeded: counter)
            var v13 = iv.5 ^ UInt32(truncatingIfNeeded: counter >> 32)
            var v14 = final ? ~iv.6 : iv.6
            var v15 = iv.7
            sigma.withUnsafeBufferPointer { schedule in
                var s = schedule.baseAddress!
                for _ in 0..<10 {
                    mix(&v0, &v4, &v8, &v12, m[Int(s[0])], m[Int(s[1])])
                    mix(&v1, &v5, &v9, &v13, m[Int(s[2])], m[Int(s[3])])
                    mix(&v2, &v6, &v10, &v14, m[Int(s[4])], m[Int(s[5])])
                    mix(&v3, &v7, &v11, &v15, m[Int(s[6])], m[Int(s[7])])
                    mix(&v0, &v5, &v10, &v15, m[Int(s[8])], m[Int(s[9])])
                    mix(&v1, &v6, &v11, &v12, m[Int(s[10])], m[Int(s[11])])
                    mix(&v2, &v7, &v8, &v13, m[Int(s[12])], m[Int(s[13])])
                    mix(&v3, &v4, &v9, &v14, m[Int(s[14])], m[Int(s[15])])
                    s += 16
                }
            }
            h[0] ^= v0 ^ v8
            h[1] ^= v1 ^ v9
            h[2] ^= v2 ^ v10
            h[3] ^= v3 ^ v11
            h[4] ^= v4 ^ v12
            h[5] ^= v5 ^ v13
            h[6] ^= v6 ^ v14
            h[7] ^= v7 ^ v15
            // Wipe the message words (the working vector's registers are not addressable; libsodium's
            // own compression functions leave theirs the same way).
            sodium_memzero(m, 64)
        }
    }
}

extension UInt32 {
    @inline(__always)
    func rotatedRight(_ count: UInt32) -> UInt32 { (self >> count) | (self << (32 &- count)) }
}
