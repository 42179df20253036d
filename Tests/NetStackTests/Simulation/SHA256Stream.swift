import CSodium

/// Incremental SHA-256 (libsodium's crypto_hash_sha256) for checking transferred streams.
struct SHA256Stream {
    private var state = crypto_hash_sha256_state()

    init() {
        _ = sodium_init()
        crypto_hash_sha256_init(&state)
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        crypto_hash_sha256_update(&state, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    mutating func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { _ = crypto_hash_sha256_final(&state, $0.baseAddress!) }
        return digest
    }
}

/// A deterministic pseudo-random byte stream of a given length, produced in chunks.
struct PatternSource {
    let total: Int
    private(set) var produced = 0
    private var generator: SeededRandom
    private var hash = SHA256Stream()
    private var chunk = [UInt8](repeating: 0, count: 65536)
    private var chunkOffset = 65536

    init(total: Int, seed: UInt64) {
        self.total = total
        generator = SeededRandom(seed: seed)
    }

    var isFinished: Bool { produced == total }

    /// Offers the next bytes to `write`, which returns how many it took.
    mutating func feed(_ write: (UnsafeRawBufferPointer) -> Int) {
        while produced < total {
            if chunkOffset == chunk.count {
                for i in stride(from: 0, to: chunk.count, by: 8) {
                    let v = generator.next()
                    withUnsafeBytes(of: v) { raw in
                        for k in 0..<8 { chunk[i + k] = raw[k] }
                    }
                }
                chunkOffset = 0
            }
            let available = Swift.min(chunk.count - chunkOffset, total - produced)
            let taken = chunk.withUnsafeBytes { raw in
                let slice = UnsafeRawBufferPointer(rebasing: raw[chunkOffset..<(chunkOffset + available)])
                let n = write(slice)
                hash.update(UnsafeRawBufferPointer(rebasing: slice.prefix(n)))
                return n
            }
            chunkOffset += taken
            produced += taken
            if taken < available { return }
        }
    }

    mutating func digest() -> [UInt8] { hash.finish() }
}
