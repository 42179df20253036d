import WireGuard

/// Tailscale's text form of a Curve25519 key: a type prefix and 64 lower-case hex digits
/// (`nodekey:…`, `discokey:…`, `privkey:…`; tailscale `types/key`).
enum KeyText {
    /// The 32 bytes of `text` when it is `prefix` followed by exactly 64 hex digits (either case).
    static func parse(_ text: String, prefix: String) -> Key32? {
        guard text.hasPrefix(prefix) else { return nil }
        let digits = text.utf8.dropFirst(prefix.utf8.count)
        guard digits.count == 64 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(32)
        var high: UInt8?
        for character in digits {
            guard let value = hexValue(character) else { return nil }
            if let h = high {
                bytes.append(h << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return Key32(bytes: bytes)
    }

    /// `prefix` followed by the key in lower-case hex.
    static func format(_ key: Key32, prefix: String) -> String { prefix + key.hex }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static let nodePublic = "nodekey:"
    static let discoPublic = "discokey:"
    static let privateKey = "privkey:"
}
