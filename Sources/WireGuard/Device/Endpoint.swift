/// A UDP endpoint (IP address + port) the transport received a datagram from or should send one to.
/// Opaque to the protocol, apart from its bytes feeding the cookie MAC (WireGuard paper §5.4.7).
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 or IPv6 address, in host order words.
    public enum Address: Hashable, Sendable {
        /// IPv4, the 32-bit address as a number (10.0.0.1 == 0x0A00_0001).
        case v4(UInt32)
        /// IPv6, the 128-bit address as two 64-bit halves, most significant first.
        case v6(high: UInt64, low: UInt64)
    }

    public var address: Address
    public var port: UInt16

    public init(address: Address, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// An IPv4 endpoint from four octets.
    public static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> Endpoint {
        Endpoint(address: .v4(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)), port: port)
    }

    /// Feeds the address bytes (network order) and port (big-endian) to a MAC.
    func absorb(into state: inout BLAKE2s) {
        switch address {
        case .v4(let value):
            withUnsafeBytes(of: value.bigEndian) { state.update($0) }
        case .v6(let high, let low):
            withUnsafeBytes(of: high.bigEndian) { state.update($0) }
            withUnsafeBytes(of: low.bigEndian) { state.update($0) }
        }
        withUnsafeBytes(of: port.bigEndian) { state.update($0) }
    }

    public var description: String {
        switch address {
        case .v4(let v):
            return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255):\(port)"
        case .v6(let high, let low):
            let groups = (0..<8).map { index -> String in
                let word = index < 4 ? high >> (48 - 16 * UInt64(index)) : low >> (48 - 16 * UInt64(index - 4))
                return String(UInt16(truncatingIfNeeded: word), radix: 16)
            }
            return "[\(groups.joined(separator: ":"))]:\(port)"
        }
    }
}
