import Testing
import WireGuard

/// The throwing key parsers say why text is not a key, as `wg` users need to hear.
struct KeyParsingTests {
    @Test func aKeyAsWgPrintsItParsesWithSurroundingWhitespace() throws {
        let key = PrivateKey()
        #expect(try PrivateKey(parsing: key.base64 + "\n").publicKey == key.publicKey)
        #expect(try PublicKey(parsing: " \(key.publicKey) ") == key.publicKey)
        #expect(try PresharedKey(parsing: PresharedKey().base64).base64.count == 44)
    }

    @Test(arguments: [
        ("", "the text is empty"),
        ("abc=", "expected 44 base64 characters"),
        (String(repeating: "A", count: 42) + "!=", "character 43 is not standard base64"),
        (String(repeating: "A", count: 44), "ends with one '=' of padding"),
        (String(repeating: "A", count: 42) + "==", "character 43 is not standard base64"),
    ])
    func badKeysSayWhy(text: String, reason: String) {
        #expect {
            try PublicKey(parsing: text)
        } throws: { error in
            (error as? KeyParseError).map { $0.kind == "public key" && $0.reason.contains(reason) } ?? false
        }
    }
}
