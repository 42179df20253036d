/// Why address or prefix text was rejected: the error of the throwing parsers
/// ``IPAddress/init(parsing:)`` and ``IPPrefix/init(parsing:)``, which say more than the failable
/// initializers' nil.
public struct AddressParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text as given.
    public let text: String
    /// What is wrong with it.
    public let reason: String

    public var description: String { "invalid address \"\(text)\": \(reason)" }
}

extension IPAddress {
    /// Parses an IPv4 dotted quad (`100.64.0.1`) or an IPv6 address (RFC 4291 §2.2, `fd7a::1`).
    public init(parsing text: some StringProtocol) throws(AddressParseError) {
        if let address = IPAddress(text) { self = address; return }
        let string = String(text)
        let reason: String
        if string.isEmpty {
            reason = "the text is empty"
        } else if string.contains(":") {
            reason = "not an IPv6 address (RFC 4291 §2.2: up to eight groups of 1-4 hex digits, one '::')"
        } else if string.contains("/") {
            reason = "a prefix, not an address (use IPPrefix)"
        } else if string.allSatisfy({ $0.isNumber || $0 == "." }) {
            reason = "not an IPv4 address: four decimal numbers 0-255 without leading zeros, separated by '.'"
        } else {
            reason = "not an IP address (host names are not resolved here)"
        }
        throw AddressParseError(text: string, reason: reason)
    }
}

extension IPPrefix {
    /// Parses `address/length` (RFC 4632 §3.1, RFC 4291 §2.3) or a bare address (a host prefix).
    public init(parsing text: some StringProtocol) throws(AddressParseError) {
        if let prefix = IPPrefix(text) { self = prefix; return }
        let string = String(text)
        guard let slash = string.firstIndex(of: "/") else {
            _ = try IPAddress(parsing: string)
            throw AddressParseError(text: string, reason: "not a prefix")
        }
        let address: IPAddress
        do {
            address = try IPAddress(parsing: string[..<slash])
        } catch {
            throw AddressParseError(text: string, reason: "before '/': \(error.reason)")
        }
        let digits = string[string.index(after: slash)...]
        let reason: String
        if let length = Int(digits), length > address.bitWidth || length < 0 {
            reason = "prefix length \(length) exceeds \(address.bitWidth), the width of the address"
        } else {
            reason = "the prefix length after '/' must be a decimal number without leading zeros"
        }
        throw AddressParseError(text: string, reason: reason)
    }
}
