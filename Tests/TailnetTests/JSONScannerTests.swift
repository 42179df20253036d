import Testing
@testable import WireNet

/// The netmap's JSON reader (RFC 8259): what it accepts, and that malformed input throws.
@Suite struct JSONScannerTests {
    static func scan<T>(_ text: String, _ read: (inout JSONScanner) throws(ControlProtocolError) -> T) throws(ControlProtocolError) -> T {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { raw in
            Result { () throws(ControlProtocolError) in
                var scanner = JSONScanner(raw)
                let value = try read(&scanner)
                try scanner.end()
                return value
            }
        }.get()
    }

    @Test func stringEscapesDecodeToTheirCharacters() throws {
        let text = try Self.scan(#" "a\"b\\c\/d\n\t\u00e9\ud83d\ude00" "#) { (s: inout JSONScanner) throws(ControlProtocolError) in try s.string() }
        #expect(text == "a\"b\\c/d\n\té😀")
    }

    @Test(arguments: [#""\ud83d""#, #""\ude00""#, #""\x""#, #""\u12g4""#, "\"a\nb\"", #""abc"#, "\"\u{1}\""])
    func malformedStringsThrow(_ text: String) {
        #expect(throws: ControlProtocolError.self) {
            try Self.scan(text) { (s: inout JSONScanner) throws(ControlProtocolError) in try s.string() }
        }
    }

    @Test func invalidUTF8Throws() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]
        #expect(throws: ControlProtocolError.self) {
            try bytes.withUnsafeBytes { raw in
                Result { () throws(ControlProtocolError) in var s = JSONScanner(raw); return try s.string() }
            }.get()
        }
    }

    @Test func integersAreExactWithinInt64() throws {
        #expect(try Self.scan("9223372036854775807") { (s: inout JSONScanner) throws(ControlProtocolError) in try s.integer() } == .max)
        #expect(try Self.scan("-9223372036854775808") { (s: inout JSONScanner) throws(ControlProtocolError) in try s.integer() } == .min)
        for bad in ["9223372036854775808", "1.5", "1e3", "01", "-", "x"] {
            #expect(throws: ControlProtocolError.self) {
                try Self.scan(bad) { (s: inout JSONScanner) throws(ControlProtocolError) in try s.integer() }
            }
        }
    }

    @Test func unknownValuesOfEveryKindAreSkipped() throws {
        let keys = try Self.scan(#"{"a": {"b": [1, -2.5e3, true, false, null, "x", {}]}, "c": []}"#) { (s: inout JSONScanner) throws(ControlProtocolError) in
            try s.beginObject()
            var first = true
            var keys: [String] = []
            while let key = try s.nextKey(&first) { keys.append(key); try s.skipValue() }
            return keys
        }
        #expect(keys == ["a", "c"])
    }

    @Test(arguments: ["[1,]", "[1 2]", #"{"a" 1}"#, #"{"a": 1,}"#, "[", "{", "[1] x", "nul", "-"])
    func malformedStructureThrows(_ text: String) {
        #expect(throws: ControlProtocolError.self) {
            try Self.scan(text) { (s: inout JSONScanner) throws(ControlProtocolError) in try s.skipValue() }
        }
    }

    @Test func nestingDeeperThanTheLimitThrowsInsteadOfRecursing() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: ControlProtocolError.self) {
            try Self.scan(text) { (s: inout JSONScanner) throws(ControlProtocolError) in try s.skipValue() }
        }
    }
}
