import Testing
import Wire

/// The throwing parsers say why text is not an address or prefix (the failable ones only say nil).
struct AddressParsingTests {
    @Test func validTextParsesAsTheFailableInitializersDo() throws {
        #expect(try IPAddress(parsing: "100.64.0.1") == IPAddress("100.64.0.1"))
        #expect(try IPAddress(parsing: "fd7a:115c:a1e0::1") == IPAddress("fd7a:115c:a1e0::1"))
        #expect(try IPPrefix(parsing: "10.0.0.0/8") == IPPrefix("10.0.0.0/8"))
        #expect(try IPPrefix(parsing: "fd7a::1") == IPPrefix("fd7a::1/128"))
    }

    @Test(arguments: [
        ("", "the text is empty"),
        ("10.0.0.256", "four decimal numbers 0-255"),
        ("fd7a:::1", "not an IPv6 address"),
        ("10.0.0.0/8", "a prefix, not an address"),
        ("example.com", "host names are not resolved"),
    ])
    func badAddressesSayWhy(text: String, reason: String) {
        #expect {
            try IPAddress(parsing: text)
        } throws: { error in
            (error as? AddressParseError).map { $0.text == text && $0.reason.contains(reason) } ?? false
        }
    }

    @Test(arguments: [
        ("10.0.0.0/33", "prefix length 33 exceeds 32"),
        ("fd7a::/129", "prefix length 129 exceeds 128"),
        ("10.0.0.0/08", "without leading zeros"),
        ("10.0.0.0/", "without leading zeros"),
        ("10.0.0/8", "before '/': not an IPv4 address"),
    ])
    func badPrefixesSayWhy(text: String, reason: String) {
        #expect {
            try IPPrefix(parsing: text)
        } throws: { error in
            (error as? AddressParseError).map { $0.reason.contains(reason) } ?? false
        }
    }
}
