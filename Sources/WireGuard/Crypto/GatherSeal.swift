import CSodium
import Wire

/// A ChaCha20-Poly1305 seal (RFC 8439 §2.8, WireGuard's transport AEAD, paper §5.4.6) whose
/// plaintext is gathered: most of it sits in the destination already (the message header, the
/// padding), while up to `GatherList.capacity` runs of it are read from memory elsewhere (a TCP send
/// buffer) and land in the destination only as ciphertext. The payload is thus read once and written
/// once, instead of being copied into the destination first and then encrypted there in place.
///
/// The result is byte for byte what ``ChaCha20Poly1305/seal(key:counter:text:length:additionalData:)``
/// gives for the assembled plaintext with empty additional data: ciphertext in
/// `destination[0..<length]`, the 16-byte tag right after it.
///
/// ChaCha20 is a stream cipher, so each plaintext byte is XORed with the keystream byte of its
/// position, wherever it comes from. To keep libsodium's multi-block SIMD code on every block, the
/// seal works in block-aligned stretches: the few bytes of a run that share a 64-byte block with bytes
/// of another source (at most 63 at each end of a run) are copied into the destination first, so
/// every block is either wholly in the destination (encrypted in place) or wholly inside one run
/// (encrypted from there; a run that ends the message takes its last, partial block along); each
/// keystream block is computed exactly once. A full-size TCP segment (headers in place, the payload
/// in one run to the end) takes two ChaCha20 calls where the contiguous seal takes one. Poly1305 then runs over
/// the contiguous ciphertext: ciphertext, zero padding to 16 bytes, the additional data's length
/// (0) and the ciphertext's length, each as a 64-bit little-endian number (RFC 8439 §2.8).
///
/// A plain value with no heap storage: building and sealing one allocates nothing, so it can sit in
/// a preallocated queue slot (``TransportCryptoJob``) and be sealed on any thread — as long as the
/// runs' memory stays valid and unchanged until ``seal(key:counter:)`` returns.
public struct GatherSeal: @unchecked Sendable {
    /// ChaCha20 block size (RFC 8439 §2.3).
    static let blockSize = 64

    /// Where the ciphertext goes: `length` bytes, then the 16-byte tag. The bytes no run of
    /// ``plaintext`` covers hold their plaintext here already.
    public let destination: UnsafeMutableRawPointer
    /// Plaintext (and ciphertext) length in bytes.
    public let length: Int
    /// The plaintext bytes read from elsewhere (offsets relative to `destination`).
    public let plaintext: GatherList

    /// A message of `length` bytes whose plaintext is `destination[0..<length]` except for the runs
    /// of `plaintext`, which must lie inside the message. `destination` must have room for
    /// `length + 16` bytes; ChaCha20's 32-bit block counter bounds `length` far above any WireGuard
    /// message (256 GiB).
    public init(destination: UnsafeMutableRawPointer, length: Int, plaintext: GatherList = GatherList()) {
        precondition(length >= 0 && length < 1 << 38, "GatherSeal length out of range")
        precondition(plaintext.end <= length, "GatherSeal plaintext run beyond the message")
        self.destination = destination
        self.length = length
        self.plaintext = plaintext
    }

    /// Encrypts the gathered plaintext with the 32-byte `key` and the 64-bit message `counter` (the
    /// nonce is four zero bytes and the counter, little-endian: paper §5.4.6), writing the ciphertext
    /// to `destination[0..<length]` and the tag after it. Reads the runs' sources, never writes them.
    public func seal(key: UnsafeRawPointer, counter: UInt64) {
        precondition(Sodium.initialized)
        var nonceValue = ChaCha20Poly1305.nonce(counter)
        withUnsafeBytes(of: &nonceValue) { nonceBytes in
            let nonce = nonceBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let key = key.assumingMemoryBound(to: UInt8.self)
            encrypt(nonce: nonce, key: key)
            authenticate(nonce: nonce, key: key)
        }
    }

    /// ChaCha20 from block 1 on (block 0 keys Poly1305, RFC 8439 §2.8), in block-aligned runs.
    @inline(__always)
    private func encrypt(nonce: UnsafePointer<UInt8>, key: UnsafePointer<UInt8>) {
        let text = destination.assumingMemoryBound(to: UInt8.self)
        let mask = Self.blockSize - 1
        var position = 0  // everything before it is ciphertext
        for index in 0..<plaintext.count {
            let run = plaintext[index]
            let source = run.source.assumingMemoryBound(to: UInt8.self)
            let runEnd = run.offset + run.count
            let alignedStart = (run.offset + mask) & ~mask
            // A run that ends the message is encrypted from its source to the end, partial block
            // included (the common case: a full-size segment's payload fills the packet to the MTU).
            let alignedEnd = runEnd == length ? runEnd : runEnd & ~mask
            guard alignedStart < alignedEnd else {
                // No whole block of its own: the run joins the in-place bytes around it.
                (text + run.offset).update(from: source, count: run.count)
                continue
            }
            // The run's partial blocks at either end join the in-place bytes next to them.
            (text + run.offset).update(from: source, count: alignedStart - run.offset)
            (text + alignedEnd).update(from: source + (alignedEnd - run.offset), count: runEnd - alignedEnd)
            Self.xor(text + position, from: text + position, count: alignedStart - position, at: position, nonce: nonce, key: key)
            Self.xor(text + alignedStart, from: source + (alignedStart - run.offset), count: alignedEnd - alignedStart,
                     at: alignedStart, nonce: nonce, key: key)
            position = alignedEnd
        }
        Self.xor(text + position, from: text + position, count: length - position, at: position, nonce: nonce, key: key)
    }

    /// XORs `count` bytes from `input` with the keystream from message byte `position` (a multiple of
    /// 64) into `output`.
    @inline(__always)
    private static func xor(
        _ output: UnsafeMutablePointer<UInt8>, from input: UnsafePointer<UInt8>, count: Int, at position: Int,
        nonce: UnsafePointer<UInt8>, key: UnsafePointer<UInt8>
    ) {
        guard count > 0 else { return }
        _ = crypto_stream_chacha20_ietf_xor_ic(
            output, input, UInt64(count), nonce, UInt32(truncatingIfNeeded: 1 + position / blockSize), key)
    }

    /// Poly1305 over the ciphertext with the one-time key from keystream block 0 (RFC 8439 §2.6, §2.8);
    /// writes the tag after the ciphertext.
    @inline(__always)
    private func authenticate(nonce: UnsafePointer<UInt8>, key: UnsafePointer<UInt8>) {
        let text = destination.assumingMemoryBound(to: UInt8.self)
        let stateSize = MemoryLayout<crypto_onetimeauth_poly1305_state>.size
        // Stack scratch: 64 bytes for keystream block 0, then 32 for the padding and lengths, then the
        // Poly1305 state (libsodium's SIMD code wants it 16-byte aligned).
        withUnsafeTemporaryAllocation(byteCount: 96 + stateSize, alignment: 16) { scratch in
            let block0 = scratch.baseAddress!.bindMemory(to: UInt8.self, capacity: 96)
            let trailer = block0 + 64
            let state = (scratch.baseAddress! + 96).bindMemory(to: crypto_onetimeauth_poly1305_state.self, capacity: 1)
            _ = crypto_stream_chacha20_ietf(block0, 64, nonce, key)
            _ = crypto_onetimeauth_poly1305_init(state, block0)
            _ = crypto_onetimeauth_poly1305_update(state, text, UInt64(length))
            // pad16(ciphertext) ‖ le64(additional data length = 0) ‖ le64(ciphertext length).
            let padding = (16 - (length & 15)) & 15
            trailer.initialize(repeating: 0, count: 32)
            UnsafeMutableRawPointer(trailer + padding + 8).storeBytes(of: UInt64(length).littleEndian, as: UInt64.self)
            _ = crypto_onetimeauth_poly1305_update(state, trailer, UInt64(padding + 16))
            _ = crypto_onetimeauth_poly1305_final(state, text + length)
            sodium_memzero(scratch.baseAddress!, scratch.count)
        }
    }
}
