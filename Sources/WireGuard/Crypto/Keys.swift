import CSodium

/// A Curve25519 public key: the identity of a WireGuard peer. Not secret; hashable.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var key: Key32

    public init(_ key: Key32) { self.key = key }

    /// Parses the base64 text `wg pubkey` prints.
    public init?(base64: String) {
        guard let key = Key32(base64: base64) else { return nil }
        self.key = key
    }

    public static func == (a: PublicKey, b: PublicKey) -> Bool {
        a.key.storage == b.key.storage
    }

    public func hash(into hasher: inout Hasher) {
        key.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// Base64, as `wg` prints it.
    public var description: String { key.base64 }
    public var debugDescription: String { "PublicKey(\(key.base64))" }
    public var customMirror: Mirror { Mirror(self, children: ["base64": key.base64], displayStyle: .struct) }
}

/// A Curve25519 private key, zeroed when released.
///
/// Printing it (`description`, `debugDescription`, `dump`) shows only the public key; use ``base64``
/// to write the key out on purpose.
public final class PrivateKey: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    fileprivate(set) var key: Key32
    /// The matching public key.
    public let publicKey: PublicKey

    /// Wraps 32 bytes, clamping them as X25519 requires (RFC 7748 §5, as `wg genkey` does).
    public init(_ bytes: Key32) {
        var key = bytes
        key.withUnsafeMutableBytes { raw in
            raw[0] &= 248
            raw[31] = (raw[31] & 127) | 64
        }
        self.key = key
        publicKey = PublicKey(X25519.publicKey(of: key))
    }

    /// A fresh random private key.
    public convenience init() {
        var bytes = Key32()
        bytes.withUnsafeMutableBytes { Sodium.randomBytes($0) }
        self.init(bytes)
        bytes.wipe()
    }

    /// Parses the base64 text `wg genkey` prints.
    public convenience init?(base64: String) {
        guard var bytes = Key32(base64: base64) else { return nil }
        self.init(bytes)
        bytes.wipe()
    }

    /// The key as base64 (for handing to `wg set … private-key`).
    public var base64: String { key.base64 }

    public var description: String { "PrivateKey(<redacted>, public: \(publicKey))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["publicKey": publicKey.description], displayStyle: .class) }

    /// X25519(self, peer); nil when the result is all zeros (a low-order point; WireGuard paper §5.4).
    public func sharedSecret(with peer: PublicKey) -> Key32? {
        X25519.sharedSecret(privateKey: key, publicKey: peer.key)
    }

    deinit { key.wipe() }
}

/// An optional symmetric pre-shared key mixed into the handshake (Noise `psk2`), zeroed when released.
/// Printing it shows no bytes; use ``base64`` to write it out on purpose.
public final class PresharedKey: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private(set) var key: Key32

    public init(_ key: Key32) { self.key = key }

    /// A fresh random pre-shared key (`wg genpsk`).
    public convenience init() {
        var bytes = Key32()
        bytes.withUnsafeMutableBytes { Sodium.randomBytes($0) }
        self.init(bytes)
        bytes.wipe()
    }

    public convenience init?(base64: String) {
        guard let bytes = Key32(base64: base64) else { return nil }
        self.init(bytes)
    }

    public var base64: String { key.base64 }

    public var description: String { "PresharedKey(<redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }

    deinit { key.wipe() }
}

/// X25519 through libsodium (`crypto_scalarmult_curve25519`).
public enum X25519 {
    /// The public key (base point multiple) of a private scalar.
    public static func publicKey(of privateKey: Key32) -> Key32 {
        precondition(Sodium.initialized)
        var out = Key32()
        out.withUnsafeMutableBytes { result in
            privateKey.withUnsafeBytes { scalar in
                _ = crypto_scalarmult_curve25519_base(
                    result.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    scalar.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return out
    }

    /// The shared secret; nil if the peer's point yields all zeros.
    public static func sharedSecret(privateKey: Key32, publicKey: Key32) -> Key32? {
        precondition(Sodium.initialized)
        var out = Key32()
        let status = out.withUnsafeMutableBytes { result in
            privateKey.withUnsafeBytes { scalar in
                publicKey.withUnsafeBytes { point in
                    crypto_scalarmult_curve25519(
                        result.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        scalar.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        point.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        guard status == 0 else {
            out.wipe()
            return nil
        }
        return out
    }
}
