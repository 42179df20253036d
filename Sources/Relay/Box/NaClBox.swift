import CSodium
import WireGuard

/// NaCl's `crypto_box` (Curve25519 + XSalsa20-Poly1305) between two Curve25519 keys, with the shared
/// key computed once (`crypto_box_beforenm`) and used for every message after.
///
/// DERP's client/server info and every disco message use it with the *nonce first* layout of
/// tailscale's `key.NodePrivate.SealTo` / `disco.go`: `24-byte random nonce || box`, where the box is
/// libsodium's "easy" layout, the 16-byte Poly1305 tag followed by the ciphertext (the same bytes Go's
/// `golang.org/x/crypto/nacl/box.Seal` produces).
///
/// The shared key is derived as `crypto_box_beforenm` does it — HSalsa20 over the X25519 result with a
/// zero nonce — from ``PrivateKey/sharedSecret(with:)``, so the private key never leaves its owner.
public final class NaClBox: @unchecked Sendable {
    /// Bytes of the random nonce in front of every box (`crypto_box_NONCEBYTES`).
    public static let nonceLength = 24
    /// Bytes a box adds to its plaintext (`crypto_box_MACBYTES`).
    public static let tagLength = 16
    /// Bytes a sealed message adds to its plaintext: nonce plus tag.
    public static let overhead = nonceLength + tagLength

    private var sharedKey: Key32

    /// The box between `privateKey` and `peer`; nil when the peer's key is a low-order point (the
    /// X25519 result is all zeros, as `crypto_box_beforenm` refuses).
    public init?(privateKey: PrivateKey, peer: PublicKey) {
        guard boxInitialized, var shared = privateKey.sharedSecret(with: peer) else { return nil }
        defer { shared.wipe() }
        var key = Key32()
        let zeroNonce = [UInt8](repeating: 0, count: 16)
        key.withUnsafeMutableBytes { out in
            shared.withUnsafeBytes { input in
                _ = crypto_core_hsalsa20(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), zeroNonce,
                    input.baseAddress!.assumingMemoryBound(to: UInt8.self), nil)
            }
        }
        sharedKey = key
    }

    deinit { sharedKey.wipe() }

    /// Seals `plaintext` into `output` as `nonce || tag || ciphertext` with a fresh random nonce and
    /// returns the bytes written (`plaintext.count + overhead`), or nil when `output` is too small.
    /// `output` must not overlap `plaintext`.
    public func seal(_ plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let total = plaintext.count + Self.overhead
        guard output.count >= total, let out = output.baseAddress else { return nil }
        // The nonce must never repeat under one shared key: 24 random bytes (as tailscale does).
        randombytes_buf(out, Self.nonceLength)
        let nonce = out.assumingMemoryBound(to: UInt8.self)
        let message = plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(nonce)
        let status = sharedKey.withUnsafeBytes { key in
            crypto_box_easy_afternm(
                nonce + Self.nonceLength, message,
                UInt64(plaintext.count), nonce, key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return status == 0 ? total : nil
    }

    /// Seals `plaintext` into a new array (handshakes and control messages; allocates).
    public func seal(_ plaintext: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: plaintext.count + Self.overhead)
        let written = plaintext.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { seal(input, into: $0) }
        }
        precondition(written == output.count)
        return output
    }

    /// Opens `sealed` (`nonce || tag || ciphertext`) into `output` and returns the plaintext length,
    /// or nil when the message is too short, `output` too small, or the tag does not verify.
    public func open(_ sealed: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard sealed.count >= Self.overhead, let input = sealed.baseAddress else { return nil }
        let length = sealed.count - Self.overhead
        guard output.count >= length, let out = output.baseAddress ?? (length == 0 ? input.mutableForEmpty : nil) else {
            return nil
        }
        let nonce = input.assumingMemoryBound(to: UInt8.self)
        let status = sharedKey.withUnsafeBytes { key in
            crypto_box_open_easy_afternm(
                out.assumingMemoryBound(to: UInt8.self), nonce + Self.nonceLength,
                UInt64(sealed.count - Self.nonceLength), nonce, key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return status == 0 ? length : nil
    }

    /// Opens `sealed` into a new array; nil when it does not verify (allocates).
    public func open(_ sealed: UnsafeRawBufferPointer) -> [UInt8]? {
        guard sealed.count >= Self.overhead else { return nil }
        var output = [UInt8](repeating: 0, count: sealed.count - Self.overhead + 1)
        let length = output.withUnsafeMutableBytes { open(sealed, into: $0) }
        guard let length else { return nil }
        output.removeLast(output.count - length)
        return output
    }
}

/// `sodium_init()` once, before the first box (libsodium requires it for its random source).
let boxInitialized: Bool = { sodium_init() >= 0 }()

extension UnsafeRawPointer {
    /// A writable pointer for the zero-length output of an empty plaintext (libsodium writes nothing).
    fileprivate var mutableForEmpty: UnsafeMutableRawPointer { UnsafeMutableRawPointer(mutating: self) }
}
