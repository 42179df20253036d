/// An IP address and port: the one endpoint type of WireNet's cores.
///
/// A socket address inside the tunnel (NetStack's TCP and UDP sockets), and a UDP endpoint on the
/// underlay that WireGuard received a datagram from or should send one to.
public struct IPEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// The IPv4 or IPv6 address.
    public var address: IPAddress
    /// The port, in host order.
    public var port: UInt16

    /// The endpoint `address`:`port`.
    public init(_ address: IPAddress, _ port: UInt16) {
        self.address = address
        self.port = port
    }

    /// An IPv4 endpoint from four octets: `.v4(192, 0, 2, 1, port: 51820)` is 192.0.2.1:51820.
    public static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> IPEndpoint {
        IPEndpoint(.v4(IPv4Address(a, b, c, d)), port)
    }

    /// `192.0.2.1:51820` for IPv4, `[2001:db8::1]:51820` for IPv6.
    public var description: String {
        switch address {
        case .v4: return "\(address):\(port)"
        case .v6: return "[\(address)]:\(port)"
        }
    }
}
