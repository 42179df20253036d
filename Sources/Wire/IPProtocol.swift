/// An IP protocol number (IPv4 "Protocol" field, IPv6 "Next Header" field).
///
/// The values come from the IANA "Assigned Internet Protocol Numbers" registry. IPv6 uses the same
/// space for extension headers (RFC 8200 §4), so those appear here too.
public struct IPProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    @inlinable
    /// The protocol with this number.
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// IPv6 Hop-by-Hop Options header (RFC 8200 §4.3).
    public static let ipv6HopByHop = IPProtocol(0)
    /// Internet Control Message Protocol (RFC 792).
    public static let icmp = IPProtocol(1)
    /// Transmission Control Protocol (RFC 9293).
    public static let tcp = IPProtocol(6)
    /// User Datagram Protocol (RFC 768).
    public static let udp = IPProtocol(17)
    /// IPv6 encapsulation (RFC 2473).
    public static let ipv6 = IPProtocol(41)
    /// IPv6 Routing header (RFC 8200 §4.4).
    public static let ipv6Routing = IPProtocol(43)
    /// IPv6 Fragment header (RFC 8200 §4.5).
    public static let ipv6Fragment = IPProtocol(44)
    /// Encapsulating Security Payload (RFC 4303); opaque, ends header parsing.
    public static let esp = IPProtocol(50)
    /// Authentication Header (RFC 4302); an IPv6 extension header with its own length rule.
    public static let authenticationHeader = IPProtocol(51)
    /// ICMP for IPv6 (RFC 4443).
    public static let icmpv6 = IPProtocol(58)
    /// IPv6 No Next Header (RFC 8200 §4.7).
    public static let ipv6NoNextHeader = IPProtocol(59)
    /// IPv6 Destination Options header (RFC 8200 §4.6).
    public static let ipv6DestinationOptions = IPProtocol(60)

    /// True for the IPv6 extension headers that `IPv6Packet` walks over (RFC 8200 §4.1 plus AH).
    public var isIPv6ExtensionHeader: Bool {
        switch self {
        case .ipv6HopByHop, .ipv6Routing, .ipv6Fragment, .ipv6DestinationOptions, .authenticationHeader:
            return true
        default:
            return false
        }
    }

    public var description: String {
        switch self {
        case .ipv6HopByHop: return "hop-by-hop"
        case .icmp: return "icmp"
        case .tcp: return "tcp"
        case .udp: return "udp"
        case .ipv6: return "ipv6"
        case .ipv6Routing: return "routing"
        case .ipv6Fragment: return "fragment"
        case .esp: return "esp"
        case .authenticationHeader: return "ah"
        case .icmpv6: return "icmpv6"
        case .ipv6NoNextHeader: return "no-next-header"
        case .ipv6DestinationOptions: return "destination-options"
        default: return "protocol \(rawValue)"
        }
    }
}
