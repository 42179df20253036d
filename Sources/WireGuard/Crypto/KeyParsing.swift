/// Why key text was rejected: the throwing parsers' error (``PublicKey/init(parsing:)`` and friends),
/// for callers that want to tell a person more than the failable `init?(base64:)`'s nil.
public struct KeyParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was being parsed ("private key", "public key", "pre-shared key").
    public let kind: String
    /// What is wrong with it.
    public let reason: String

    public var description: String { "invalid \(kind): \(reason)" }

    /// The reason `text` is not the standard base64 (RFC 4648 §4) of 32 bytes, as `wg genkey` prints.
    static func check(_ text: String, kind: String) -> KeyParseError? {
        let trimmed = text.trimmingWhitespace
        if trimmed.isEmpty { return KeyParseError(kind: kind, reason: "the text is empty") }
        if trimmed.utf8.count != 44 {
            return KeyParseError(kind: kind, reason: "expected 44 base64 characters (32 bytes, as `wg genkey` prints), got \(trimmed.utf8.count)")
        }
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        if let bad = trimmed.utf8.prefix(43).firstIndex(where: { !alphabet.contains($0) }) {
            let offset = trimmed.utf8.distance(from: trimmed.utf8.startIndex, to: bad)
            return KeyParseError(kind: kind, reason: "character \(offset + 1) is not standard base64")
        }
        if trimmed.utf8.last != UInt8(ascii: "=") {
            return KeyParseError(kind: kind, reason: "a 32-byte key ends with one '=' of padding")
        }
        if Key32(base64: trimmed) == nil {
            return KeyParseError(kind: kind, reason: "not the base64 of exactly 32 bytes")
        }
        return nil
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}

extension PublicKey {
    /// Parses the base64 text `wg pubkey` prints (surrounding whitespace ignored), saying why not.
    public init(parsing text: String) throws(KeyParseError) {
        if let error = KeyParseError.check(text, kind: "public key") { throw error }
        self.init(base64: text.trimmingWhitespace)!
    }
}

extension PrivateKey {
    /// Parses the base64 text `wg genkey` prints (surrounding whitespace ignored), saying why not.
    public convenience init(parsing text: String) throws(KeyParseError) {
        if let error = KeyParseError.check(text, kind: "private key") { throw error }
        self.init(base64: text.trimmingWhitespace)!
    }
}

extension PresharedKey {
    /// Parses the base64 text `wg genpsk` prints (surrounding whitespace ignored), saying why not.
    public convenience init(parsing text: String) throws(KeyParseError) {
        if let error = KeyParseError.check(text, kind: "pre-shared key") { throw error }
        self.init(base64: text.trimmingWhitespace)!
    }
}
