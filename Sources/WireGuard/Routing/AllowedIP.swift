/// An IPv4 or IPv6 prefix a peer may use (its "allowed IPs", WireGuard paper §2 cryptokey routing).
///
/// Addresses are held as 128 bits, most significant first; IPv4 occupies the top 32 bits.
/// Host bits beyond the prefix length are cleared on construction.
public struct AllowedIP: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable { case v4, v6 }

    public let family: Family
    let high: UInt64
    let low: UInt64
    /// Prefix length in bits (0...32 for IPv4, 0...128 for IPv6).
    public let prefixLength: Int

    /// An IPv4 prefix from the 32-bit address (host order) and a length up to 32.
    public init?(v4 address: UInt32, prefixLength: Int) {
        guard (0...32).contains(prefixLength) else { return nil }
        family = .v4
        let mask: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << (32 - prefixLength)
        high = UInt64(address & mask) << 32
        low = 0
        self.prefixLength = prefixLength
    }

    /// An IPv6 prefix from the address halves (host order) and a length up to 128.
    public init?(v6High high: UInt64, low: UInt64, prefixLength: Int) {
        guard (0...128).contains(prefixLength) else { return nil }
        family = .v6
        let highMask: UInt64 = prefixLength >= 64 ? ~0 : (prefixLength == 0 ? 0 : ~UInt64(0) << (64 - prefixLength))
        let lowMask: UInt64 = prefixLength <= 64 ? 0 : (prefixLength == 128 ? ~0 : ~UInt64(0) << (128 - prefixLength))
        self.high = high & highMask
        self.low = low & lowMask
        self.prefixLength = prefixLength
    }

    /// Parses `a.b.c.d/n` or an IPv6 `x:x::x/n` (a missing length means a single host).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return nil }
        let addressText = String(parts[0])
        if let v4 = IPAddressText.parseV4(addressText) {
            let length = parts.count == 2 ? Int(parts[1]) : 32
            guard let length, let prefix = AllowedIP(v4: v4, prefixLength: length) else { return nil }
            self = prefix
        } else if let (h, l) = IPAddressText.parseV6(addressText) {
            let length = parts.count == 2 ? Int(parts[1]) : 128
            guard let length, let prefix = AllowedIP(v6High: h, low: l, prefixLength: length) else { return nil }
            self = prefix
        } else {
            return nil
        }
    }

    /// `address/length` text.
    public var description: String {
        switch family {
        case .v4:
            let v = UInt32(truncatingIfNeeded: high >> 32)
            return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)/\(prefixLength)"
        case .v6:
            let groups = (0..<8).map { index -> String in
                let word = index < 4 ? high >> (48 - 16 * UInt64(index)) : low >> (48 - 16 * UInt64(index - 4))
                return String(UInt16(truncatingIfNeeded: word), radix: 16)
            }
            return groups.joined(separator: ":") + "/\(prefixLength)"
        }
    }
}

/// Text forms of IP addresses for configuration (not on any packet path).
enum IPAddressText {
    static func parseV4(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard octet.count <= 3, let byte = UInt8(octet) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    static func parseV6(_ text: String) -> (UInt64, UInt64)? {
        guard text.contains(":") else { return nil }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result = [UInt16]()
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(group.count), let value = UInt16(group, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        let high = all[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = all[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }
}

extension String {
    fileprivate func components(separatedBy separator: String) -> [String] {
        var result = [String]()
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            result.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        result.append(String(rest))
        return result
    }
}
