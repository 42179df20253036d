import Wire

/// One rule of the tailnet's packet filter (tailscale `tailcfg.FilterRule`, normalised by the
/// helper): traffic from any of ``sources`` to any of ``destinations`` using one of ``protocols``
/// may open a flow to this node.
public struct FilterRule: Sendable, Equatable {
    /// A destination prefix and the port range allowed on it (inclusive).
    public struct Destination: Sendable, Equatable {
        public var prefix: IPPrefix
        public var ports: ClosedRange<UInt16>

        public init(prefix: IPPrefix, ports: ClosedRange<UInt16>) {
            self.prefix = prefix
            self.ports = ports
        }
    }

    /// Source prefixes the rule admits.
    public var sources: [IPPrefix]
    /// Destination prefixes and ports.
    public var destinations: [Destination]
    /// IP protocol numbers (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6). The helper fills tailscale's default
    /// (TCP, UDP, ICMPv4, ICMPv6) when control sent none.
    public var protocols: [UInt8]

    public init(sources: [IPPrefix], destinations: [Destination], protocols: [UInt8]) {
        self.sources = sources
        self.destinations = destinations
        self.protocols = protocols
    }

    /// tailscale's default when a rule names no protocol (`tailcfg.FilterRule.IPProto`).
    static let defaultProtocols: [UInt8] = [6, 17, 1, 58]
}
