import Wire
import WireGuard

/// Everything a ``Node`` needs to join a WireGuard network: its key, its tunnel addresses and its peers.
///
/// Build one in code, or read a wg-quick file with ``init(wgQuick:file:)`` /
/// ``init(contentsOfFile:)``.
public struct NodeConfiguration: Sendable {
    /// The node's static private key (`[Interface] PrivateKey`).
    public var privateKey: PrivateKey
    /// The node's own tunnel addresses (`[Interface] Address`), IPv4 and/or IPv6, with prefix lengths.
    public var addresses: [IPPrefix]
    /// The UDP port to listen on; `nil` picks an ephemeral port (`[Interface] ListenPort`).
    public var listenPort: UInt16?
    /// The tunnel MTU (`[Interface] MTU`): the largest inner IP packet. 1280…65535; default 1420.
    public var mtu: Int
    /// The peers (`[Peer]` sections), at most one per public key.
    public var peers: [Peer]

    /// The default tunnel MTU: 1500 minus the largest WireGuard-over-IPv6 overhead (40 + 8 + 32).
    public static let defaultMTU = 1420
    /// The smallest MTU IPv6 allows on a link (RFC 8200 §5).
    public static let minimumMTU = 1280
    /// The largest IP packet (the IPv4 total-length field).
    public static let maximumMTU = 65535

    public init(privateKey: PrivateKey, addresses: [IPPrefix], listenPort: UInt16? = nil,
                mtu: Int = NodeConfiguration.defaultMTU, peers: [Peer] = []) {
        self.privateKey = privateKey
        self.addresses = addresses
        self.listenPort = listenPort
        self.mtu = mtu
        self.peers = peers
    }

    /// One `[Peer]`: who it is, where to reach it, and which inner addresses it may use.
    public struct Peer: Sendable {
        /// The peer's static public key.
        public var publicKey: PublicKey
        /// An optional pre-shared key mixed into the handshake (post-quantum hedge).
        public var presharedKey: PresharedKey?
        /// Where to send the first handshake; `nil` waits for the peer to reach us.
        public var endpoint: PeerEndpoint?
        /// The inner source addresses accepted from this peer and the destinations routed to it.
        public var allowedIPs: [IPPrefix]
        /// Send a keepalive after this much silence, to hold NAT mappings open; `nil` is off.
        public var persistentKeepalive: Duration?

        public init(publicKey: PublicKey, presharedKey: PresharedKey? = nil, endpoint: PeerEndpoint? = nil,
                    allowedIPs: [IPPrefix] = [], persistentKeepalive: Duration? = nil) {
            self.publicKey = publicKey
            self.presharedKey = presharedKey
            self.endpoint = endpoint
            self.allowedIPs = allowedIPs
            self.persistentKeepalive = persistentKeepalive
        }
    }

    /// Checks what the parser cannot see line by line: an address must be present, MTU in range,
    /// no two peers with one key.
    public func validate(file: String = "<config>") throws(ConfigurationError) {
        if addresses.isEmpty {
            throw ConfigurationError(file: file, line: nil, message: "no Address: the node needs at least one tunnel address")
        }
        if !(Self.minimumMTU...Self.maximumMTU).contains(mtu) {
            throw ConfigurationError(
                file: file, line: nil,
                message: "MTU \(mtu) is out of range \(Self.minimumMTU)...\(Self.maximumMTU)")
        }
        var seen = Set<PublicKey>()
        for peer in peers where !seen.insert(peer.publicKey).inserted {
            throw ConfigurationError(file: file, line: nil, message: "duplicate peer \(peer.publicKey)")
        }
    }
}

/// Where a peer is reached: an IP address or a host name (resolved when the node starts), and a port.
public struct PeerEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// An IP address literal or a DNS name.
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// An endpoint at a known address.
    public init(_ endpoint: IPEndpoint) {
        switch endpoint.address {
        case .v4(let v4): host = v4.description
        case .v6(let v6): host = v6.description
        }
        port = endpoint.port
    }

    /// Parses `host:port`, `1.2.3.4:port` or `[v6]:port` (wg's syntax).
    public init?(_ text: some StringProtocol) {
        let text = String(text)
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
            guard IPv6Address(hostPart) != nil else { return nil }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            // A bare IPv6 address needs brackets; a name or IPv4 address has no colon.
            guard !hostPart.isEmpty, !hostPart.contains(":") else { return nil }
        }
        guard let port = UInt16(portPart), port != 0 else { return nil }
        host = String(hostPart)
        self.port = port
    }

    /// The endpoint when the host is an IP literal; `nil` for a name that needs resolving.
    public var literal: IPEndpoint? {
        IPAddress(host).map { IPEndpoint($0, port) }
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
