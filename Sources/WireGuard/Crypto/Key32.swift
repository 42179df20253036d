import CSodium

/// Thirty-two bytes held inline (no heap), the size of every WireGuard key, hash and chaining key.
///
/// `Key32` is a plain value: copies are not zeroed. Long-lived secrets live in classes that own one
/// `Key32` and wipe it in `deinit` (``PrivateKey``, ``PresharedKey``, the handshake and keypair state);
/// temporaries in the handshake are wiped with ``wipe()`` before they go out of scope, as wireguard-go does.
public struct Key32: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Byte count of every key, hash and chaining key (BLAKE2s-256 output, Curve25519 point).
    public static let byteCount = 32

    @usableFromInline
    var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// All zero bytes.
    public static var zero: Key32 { Key32() }

    @inlinable
    public init() {}

    /// Copies exactly 32 bytes; returns nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        withUnsafeMutableBytes { destination in
            for (index, byte) in bytes.enumerated() { destination[index] = byte }
        }
    }

    /// Copies 32 bytes from `source`, which must hold at least 32 bytes.
    @inlinable
    public init(copying source: UnsafeRawBufferPointer) {
        precondition(source.count >= Self.byteCount)
        withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<Self.byteCount])) }
    }

    /// Lends the bytes to `body`. A value has no fixed address, so this lends a copy on the stack
    /// and wipes it afterwards; long-lived keys in classes lend their own storage instead (see
    /// ``withUnsafeBytes(of:_:)``), which copies nothing.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var copy = storage
        defer { Swift.withUnsafeMutableBytes(of: &copy) { sodium_memzero($0.baseAddress!, 32) } }
        return try Swift.withUnsafeBytes(of: &copy, body)
    }

    /// Lends the bytes of `key` in place (no copy): for keys stored in a class or another place
    /// with a stable address.
    @inlinable
    public static func withUnsafeBytes<R>(of key: inout Key32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: &key.storage, body)
    }

    @inlinable
    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeMutableBytes(of: &storage, body)
    }

    /// The bytes as an array (tests, encodings; allocates).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// True when all 32 bytes are zero (constant time).
    public var isZero: Bool {
        withUnsafeBytes { sodium_is_zero($0.baseAddress!.assumingMemoryBound(to: UInt8.self), 32) == 1 }
    }

    /// Constant-time equality (`sodium_memcmp`): use for anything secret.
    public func constantTimeEquals(_ other: Key32) -> Bool {
        withUnsafeBytes { a in other.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, 32) == 0 } }
    }

    /// Redacted: a `Key32` may hold a secret. Public keys print through ``PublicKey``; use ``base64``
    /// or ``hex`` to print a key on purpose.
    public var description: String { "Key32(<redacted>)" }
    public var debugDescription: String { description }
    /// No children: `dump` and debuggers' reflection show no bytes.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Bytewise lexicographic order (not constant time: for public keys only).
    func orders(before other: Key32) -> Bool {
        withUnsafeBytes { a in other.withUnsafeBytes { b in a.lexicographicallyPrecedes(b) } }
    }

    /// Overwrites the bytes with zeros in a way the optimiser keeps (`sodium_memzero`).
    @inlinable
    public mutating func wipe() {
        withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, 32) }
    }
}

extension Key32 {
    /// Standard base64 (the `wg` tool's key format).
    public var base64: String { Base64.encode(bytes) }

    /// Parses a base64 key as printed by `wg genkey` / `wg pubkey`.
    public init?(base64 text: String) {
        guard let decoded = Base64.decode(text), let key = Key32(bytes: decoded) else { return nil }
        self = key
    }

    /// Lower-case hexadecimal (the UAPI's key format).
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        withUnsafeBytes { for b in $0 { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) } }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Minimal standard base64 (RFC 4648 §4) for key text; keys are the only use.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var index = 0
        while index < bytes.count {
            let remaining = bytes.count - index
            let b0 = UInt32(bytes[index])
            let b1 = remaining > 1 ? UInt32(bytes[index + 1]) : 0
            let b2 = remaining > 2 ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(triple >> 18 & 63)])
            out.append(alphabet[Int(triple >> 12 & 63)])
            out.append(remaining > 1 ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
            out.append(remaining > 2 ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var values = [UInt8]()
        var padding = 0
        for character in text.utf8 {
            if character == UInt8(ascii: "=") { padding += 1; continue }
            guard padding == 0, let value = alphabet.firstIndex(of: character) else {
                if character == UInt8(ascii: "\n") || character == UInt8(ascii: " ") { continue }
                return nil
            }
            values.append(UInt8(value))
        }
        guard (values.count + padding) % 4 == 0, padding <= 2 else { return nil }
        var out = [UInt8]()
        var index = 0
        while index + 1 < values.count {
            let v0 = UInt32(values[index]), v1 = UInt32(values[index + 1])
            let v2 = index + 2 < values.count ? UInt32(values[index + 2]) : 0
            let v3 = index + 3 < values.count ? UInt32(values[index + 3]) : 0
            let quad = v0 << 18 | v1 << 12 | v2 << 6 | v3
            out.append(UInt8(quad >> 16 & 0xFF))
            if index + 2 < values.count { out.append(UInt8(quad >> 8 & 0xFF)) }
            if index + 3 < values.count { out.append(UInt8(quad & 0xFF)) }
            index += 4
        }
        return out
    }
}
