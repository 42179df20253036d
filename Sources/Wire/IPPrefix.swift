/// An address prefix in CIDR notation (RFC 4632 §3.1, RFC 4291 §2.3): `10.0.0.0/8`, `fd7a:115c:a1e0::/48`.
///
/// The address is kept as given (host bits may be set, as in an interface address `10.0.0.5/24`);
/// ``masked`` clears them and ``contains(_:)`` ignores them. WireGuard's allowed-IPs and the stack's
/// routes and interface addresses use this type.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    /// The address as given, host bits included.
    public let address: IPAddress
    /// The number of leading bits that form the network part, 0...32 or 0...128.
    public let length: Int

    /// A prefix of `length` bits of `address`; nil when `length` is outside 0 through the family width.
    public init?(_ address: IPAddress, length: Int) {
        guard length >= 0, length <= address.bitWidth else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses `address/length`; a bare address means a host prefix (`/32` or `/128`). The length must
    /// be decimal without leading zeros.
    public init?(_ string: some StringProtocol) {
        let text = Substring(string)
        if let slash = text.firstIndex(of: "/") {
            guard let address = IPAddress(text[..<slash]) else { return nil }
            let digits = text[text.index(after: slash)...]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  digits == "0" || digits.first != "0", let length = Int(digits)
            else { return nil }
            self.init(address, length: length)
        } else {
            guard let address = IPAddress(text) else { return nil }
            self.init(address, length: address.bitWidth)
        }
    }

    /// The network address: ``address`` with the host bits cleared.
    public var masked: IPPrefix {
        // Safe: length was validated against the family at init.
        switch address {
        case let .v4(v4):
            return IPPrefix(unchecked: .v4(IPv4Address(rawValue: v4.rawValue & IPPrefix.mask32(length))), length)
        case let .v6(v6):
            let (highMask, lowMask) = IPPrefix.mask128(length)
            return IPPrefix(unchecked: .v6(IPv6Address(high: v6.high & highMask, low: v6.low & lowMask)), length)
        }
    }

    private init(unchecked address: IPAddress, _ length: Int) {
        self.address = address
        self.length = length
    }

    /// True when `other` is in the same family and its first ``length`` bits equal this prefix's.
    public func contains(_ other: IPAddress) -> Bool {
        switch (address, other) {
        case let (.v4(network), .v4(candidate)):
            return (network.rawValue ^ candidate.rawValue) & IPPrefix.mask32(length) == 0
        case let (.v6(network), .v6(candidate)):
            let (highMask, lowMask) = IPPrefix.mask128(length)
            return (network.high ^ candidate.high) & highMask == 0 && (network.low ^ candidate.low) & lowMask == 0
        default:
            return false
        }
    }

    /// True when `other` is an IPv4 address inside this prefix.
    public func contains(_ other: IPv4Address) -> Bool { contains(.v4(other)) }
    /// True when `other` is an IPv6 address inside this prefix.
    public func contains(_ other: IPv6Address) -> Bool { contains(.v6(other)) }

    /// True when every address of `other` is inside this prefix.
    public func contains(_ other: IPPrefix) -> Bool {
        other.length >= length && contains(other.address)
    }

    public var description: String { "\(address)/\(length)" }

    static func mask32(_ length: Int) -> UInt32 {
        length <= 0 ? 0 : (length >= 32 ? ~0 : ~(UInt32.max >> UInt32(length)))
    }

    static func mask128(_ length: Int) -> (UInt64, UInt64) {
        if length <= 0 { return (0, 0) }
        if length < 64 { return (~(UInt64.max >> UInt64(length)), 0) }
        if length == 64 { return (~0, 0) }
        if length < 128 { return (~0, ~(UInt64.max >> UInt64(length - 64))) }
        return (~0, ~0)
    }
}
