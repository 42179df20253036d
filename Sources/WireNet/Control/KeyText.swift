import WireGuard

/// Tailscale's text form of a Curve25519 key: a type prefix and 64 lower-case hex digits
/// (`nodekey:…`, `discokey:…`, `privkey:…`; tailscale `types/key`).
enum KeyText {
    /// The 32 bytes of `text` when it is `prefix` followed by exactly 64 hex digits (either case).
    static func parse(_ text: String, prefix: String) -> Key32? {
        var text = text
        return text.withUTF8 { utf8 -> Key32? in
            let prefixCount = prefix.utf8.count
            guard utf8.count == prefixCount + 64, utf8.starts(with: prefix.utf8) else { return nil }
            // No heap buffer: 10,000 peers' keys are parsed per full netmap.
            var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            let valid = withUnsafeMutableBytes(of: &bytes) { out -> Bool in
                for index in 0..<32 {
                    guard let high = hexValue(utf8[prefixCount + 2 * index]),
                          let low = hexValue(utf8[prefixCount + 2 * index + 1]) else { return false }
                    out[index] = high << 4 | low
                }
                return true
            }
            guard valid else { return nil }
            return withUnsafeBytes(of: &bytes) { Key32(copying: $0) }
        }
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
