import Wire

/// A UDP endpoint (IP address + port) the transport received a datagram from or should send one to.
/// Opaque to the protocol, apart from its bytes feeding the cookie MAC (WireGuard paper §5.4.7).
public struct IPEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// An IPv4 endpoint from four octets.
    public static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> IPEndpoint {
        IPEndpoint(.v4(IPv4Address(a, b, c, d)), port)
    }

    /// Feeds the address bytes (network order) and port (big-endian) to a MAC.
    func absorb(into state: inout BLAKE2s) {
        switch address {
        case .v4(let v4):
            withUnsafeBytes(of: v4.rawValue.bigEndian) { state.update($0) }
        case .v6(let v6):
            withUnsafeBytes(of: v6.high.bigEndian) { state.update($0) }
            withUnsafeBytes(of: v6.low.bigEndian) { state.update($0) }
        }
        withUnsafeBytes(of: port.bigEndian) { state.update($0) }
    }

    public var description: String {
        switch address {
        case .v4(let v4): "\(v4):\(port)"
        case .v6(let v6): "[\(v6)]:\(port)"
        }
    }
}
