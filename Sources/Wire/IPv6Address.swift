/// An IPv6 address (RFC 4291), stored as two host-order `UInt64` halves.
///
/// Parses every text form of RFC 4291 §2.2 (full, `::`-compressed, embedded IPv4) and prints the
/// canonical form of RFC 5952 §4 (lower case, no leading zeros, the longest run of two or more zero
/// groups as `::`, IPv4-mapped addresses with a dotted quad per §5).
///
/// ```swift
/// IPv6Address("2001:db8:0:0:0:0:0:1")?.description   // "2001:db8::1"
/// IPv6Address("::ffff:192.0.2.1")?.ipv4Mapped         // 192.0.2.1
/// ```
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The first 64 bits (network order bytes 0–7) as a host-order integer.
    public var high: UInt64
    /// The last 64 bits (network order bytes 8–15) as a host-order integer.
    public var low: UInt64

    @inlinable
    /// The address whose first and last 64 bits are `high` and `low`.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The address with the eight 16-bit groups `a:b:c:d:e:f:g:h`.
    @inlinable
    public init(_ a: UInt16, _ b: UInt16, _ c: UInt16, _ d: UInt16,
                _ e: UInt16, _ f: UInt16, _ g: UInt16, _ h: UInt16) {
        high = UInt64(a) << 48 | UInt64(b) << 32 | UInt64(c) << 16 | UInt64(d)
        low = UInt64(e) << 48 | UInt64(f) << 32 | UInt64(g) << 16 | UInt64(h)
    }

    /// The IPv4-mapped address `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2).
    @inlinable
    public init(ipv4Mapped address: IPv4Address) {
        high = 0
        low = 0xFFFF_0000_0000 | UInt64(address.rawValue)
    }

    /// `::` (RFC 4291 §2.5.2).
    public static let any = IPv6Address(high: 0, low: 0)
    /// `::1` (RFC 4291 §2.5.3).
    public static let loopback = IPv6Address(high: 0, low: 1)

    /// Group `index` (0–7) in host order.
    @inlinable
    public subscript(group index: Int) -> UInt16 {
        let half = index < 4 ? high : low
        return UInt16(truncatingIfNeeded: half >> (UInt64(3 - index & 3) * 16))
    }

    /// `::`.
    public var isUnspecified: Bool { high == 0 && low == 0 }
    /// `::1`.
    public var isLoopback: Bool { high == 0 && low == 1 }
    /// In `ff00::/8` (RFC 4291 §2.7).
    public var isMulticast: Bool { high >> 56 == 0xFF }
    /// In `fe80::/10` (RFC 4291 §2.5.6).
    public var isLinkLocal: Bool { high >> 54 == 0xFE80 >> 6 }
    /// In `fc00::/7` (RFC 4193).
    public var isUniqueLocal: Bool { high >> 57 == 0xFC >> 1 }
    /// The embedded address if this is IPv4-mapped (`::ffff:0:0/96`), else nil.
    public var ipv4Mapped: IPv4Address? {
        guard high == 0, low >> 32 == 0xFFFF else { return nil }
        return IPv4Address(rawValue: UInt32(truncatingIfNeeded: low))
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// Parses RFC 4291 §2.2 text: `x:x:x:x:x:x:x:x`, `::` compression of one or more zero groups, and
    /// a trailing dotted quad (`::ffff:1.2.3.4`, `64:ff9b::192.0.2.33`). Zone identifiers (`%eth0`)
    /// and brackets are rejected. Returns nil for anything else.
    public init?(_ string: some StringProtocol) {
        var text = Array(string.utf8)[...]
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var compressed = false
        if text.starts(with: [UInt8(ascii: ":"), UInt8(ascii: ":")]) {
            compressed = true
            text.removeFirst(2)
        }
        while !text.isEmpty {
            // A group: 1–4 hex digits, or a dotted quad that must end the address.
            var digits = 0
            var value: UInt32 = 0
            var lookahead = text.startIndex
            while lookahead < text.endIndex, let nibble = IPv6Address.hexValue(text[lookahead]) {
                value = value << 4 | UInt32(nibble)
                digits += 1
                lookahead += 1
                if digits > 4 { break }
            }
            if lookahead < text.endIndex, text[lookahead] == UInt8(ascii: ".") {
                guard let v4 = IPv4Address.parseDottedQuad(&text), text.isEmpty else { return nil }
                let groups = [UInt16(truncatingIfNeeded: v4 >> 16), UInt16(truncatingIfNeeded: v4)]
                if compressed { tail += groups } else { head += groups }
                break
            }
            guard digits >= 1, digits <= 4 else { return nil }
            text = text[lookahead...]
            if compressed { tail.append(UInt16(value)) } else { head.append(UInt16(value)) }
            guard !text.isEmpty else { break }
            guard text.first == UInt8(ascii: ":") else { return nil }
            text.removeFirst()
            if text.first == UInt8(ascii: ":") {
                guard !compressed else { return nil }
                compressed = true
                text.removeFirst()
                if text.isEmpty { break }
            } else if text.isEmpty {
                return nil  // trailing single colon
            }
        }
        let explicit = head.count + tail.count
        if compressed {
            guard explicit <= 7 else { return nil }
        } else {
            guard explicit == 8 else { return nil }
        }
        let groups = head + Array(repeating: 0, count: 8 - explicit) + tail
        self.init(groups[0], groups[1], groups[2], groups[3], groups[4], groups[5], groups[6], groups[7])
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The RFC 5952 canonical text form.
    public var description: String {
        if let v4 = ipv4Mapped { return "::ffff:\(v4)" }
        // Longest run of at least two zero groups; the first one wins a tie (RFC 5952 §4.2.3).
        var bestStart = -1, bestLength = 0, runStart = -1
        for index in 0...8 {
            if index < 8 && self[group: index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                let length = index - runStart
                if length > bestLength && length >= 2 { bestStart = runStart; bestLength = length }
                runStart = -1
            }
        }
        var result = ""
        var index = 0
        while index < 8 {
            if index == bestStart {
                result += "::"
                index += bestLength
                continue
            }
            let followsCompression = bestStart >= 0 && index == bestStart + bestLength
            if index > 0 && !followsCompression { result += ":" }
            result += String(self[group: index], radix: 16)
            index += 1
        }
        return result
    }
}
