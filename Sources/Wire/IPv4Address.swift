/// An IPv4 address (RFC 791 §3.1), stored as a host-order `UInt32`.
///
/// ```swift
/// let a = IPv4Address(10, 0, 0, 1)
/// let b = IPv4Address("10.0.0.1")   // Optional; nil for anything but a strict dotted quad
/// a.description                      // "10.0.0.1"
/// ```
public struct IPv4Address: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The address in host byte order: `10.0.0.1` is `0x0A00_0001`.
    public var rawValue: UInt32

    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The address `a.b.c.d`.
    @inlinable
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses a strict dotted quad: four decimal numbers 0–255 with no leading zeros (which some
    /// resolvers read as octal) and nothing else. Returns nil otherwise.
    public init?(_ string: some StringProtocol) {
        var utf8 = Array(string.utf8)[...]
        guard let value = IPv4Address.parseDottedQuad(&utf8), utf8.isEmpty else { return nil }
        rawValue = value
    }

    /// Parses a dotted quad at the start of `text`, consuming it. Shared with the IPv6 parser for
    /// embedded IPv4 (RFC 4291 §2.2 form 3).
    static func parseDottedQuad(_ text: inout ArraySlice<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        for part in 0..<4 {
            if part > 0 {
                guard text.first == UInt8(ascii: "."), !text.isEmpty else { return nil }
                text.removeFirst()
            }
            var octet: UInt32 = 0
            var digits = 0
            while let c = text.first, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                if digits == 1 && octet == 0 { return nil }  // leading zero
                octet = octet * 10 + UInt32(c - UInt8(ascii: "0"))
                digits += 1
                guard octet <= 255 else { return nil }
                text.removeFirst()
            }
            guard digits > 0 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    /// The four octets in network order.
    @inlinable
    public var octets: (UInt8, UInt8, UInt8, UInt8) {
        (UInt8(truncatingIfNeeded: rawValue >> 24), UInt8(truncatingIfNeeded: rawValue >> 16),
         UInt8(truncatingIfNeeded: rawValue >> 8), UInt8(truncatingIfNeeded: rawValue))
    }

    /// `0.0.0.0` (RFC 1122 §3.2.1.3).
    public static let any = IPv4Address(rawValue: 0)
    /// `255.255.255.255` (RFC 919).
    public static let broadcast = IPv4Address(rawValue: 0xFFFF_FFFF)
    /// `127.0.0.1`.
    public static let loopback = IPv4Address(127, 0, 0, 1)

    /// `0.0.0.0`.
    public var isUnspecified: Bool { rawValue == 0 }
    /// In `127.0.0.0/8` (RFC 1122 §3.2.1.3).
    public var isLoopback: Bool { rawValue >> 24 == 127 }
    /// In `224.0.0.0/4` (RFC 5771).
    public var isMulticast: Bool { rawValue >> 28 == 0xE }
    /// `255.255.255.255`.
    public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF }
    /// In `169.254.0.0/16` (RFC 3927).
    public var isLinkLocal: Bool { rawValue >> 16 == 0xA9FE }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        let (a, b, c, d) = octets
        return "\(a).\(b).\(c).\(d)"
    }
}
