import Wire
import WireGuard

/// A snapshot of a running ``Node`` (see ``Node/status()``).
public struct NodeStatus: Sendable, CustomStringConvertible {
    /// One peer's state.
    public struct Peer: Sendable {
        public var publicKey: PublicKey
        /// The UDP endpoint packets go to (learned from the configuration or the peer's last packet).
        public var endpoint: String?
        /// Time since the last completed handshake; nil before the first.
        public var lastHandshakeAge: Duration?
        /// Transport bytes received from and sent to this peer (WireGuard datagram payloads).
        public var receivedBytes: UInt64
        public var sentBytes: UInt64
        /// WireGuard messages received from this peer and authenticated (transport data, keepalives,
        /// handshakes): one per UDP datagram.
        public var receivedPackets: UInt64 = 0
        /// WireGuard messages sent to this peer (transport data, keepalives, handshakes).
        public var sentPackets: UInt64 = 0
        /// Datagrams from this peer that were dropped (bad, replayed, not allowed), all reasons summed.
        public var droppedPackets: UInt64
        /// The same drops by reason (`replayedCounter`, `disallowedSource`, …; reasons with none left out).
        public var droppedPacketsByReason: [String: UInt64] = [:]
        /// Handshakes completed with this peer since the node started (either side initiating).
        public var handshakesCompleted: UInt64 = 0
        /// What the tailnet's netmap says about the peer; nil for a statically configured peer.
        public var tailnet: TailnetPeerInfo?
        /// The path under a tailnet peer (direct or through a relay); nil for a static peer.
        public var path: PeerPath?

        /// A peer's state from its parts.
        public init(publicKey: PublicKey, endpoint: String?, lastHandshakeAge: Duration?, receivedBytes: UInt64,
                    sentBytes: UInt64, droppedPackets: UInt64, tailnet: TailnetPeerInfo? = nil) {
            self.publicKey = publicKey
            self.endpoint = endpoint
            self.lastHandshakeAge = lastHandshakeAge
            self.receivedBytes = receivedBytes
            self.sentBytes = sentBytes
            self.droppedPackets = droppedPackets
            self.tailnet = tailnet
        }
    }

    /// How a tailnet peer's datagrams travel now.
    public struct PeerPath: Sendable, Equatable {
        public enum Kind: String, Sendable {
            /// Straight over UDP to ``endpoint``, confirmed by disco pongs.
            case direct
            /// Through the DERP relay of ``region``.
            case relayed
            /// No path yet.
            case none
        }
        public var kind: Kind
        /// The direct UDP endpoint (direct paths).
        public var endpoint: String?
        /// The DERP region (relayed paths).
        public var region: Int?
        /// The path's measured round trip: disco ping to pong (direct), DERP ping to pong (relayed).
        public var latency: Duration?

        public init(kind: Kind, endpoint: String?, region: Int?, latency: Duration?) {
            self.kind = kind
            self.endpoint = endpoint
            self.region = region
            self.latency = latency
        }

        /// `direct 10.0.0.2:41641 (1.2 ms)` or `relayed via region 900 (3.4 ms)`.
        public var description: String {
            let rtt = latency.map { " (\(Double($0.components.attoseconds / 1_000_000_000_000 + $0.components.seconds * 1_000_000) / 1000) ms)" } ?? ""
            switch kind {
            case .direct: return "direct \(endpoint ?? "?")" + rtt
            case .relayed: return "relayed via region \(region ?? 0)" + rtt
            case .none: return "none"
            }
        }
    }

    /// A tailnet peer's names and state, from the latest netmap.
    public struct TailnetPeerInfo: Sendable, Equatable {
        /// Control's node id.
        public var id: Int64
        /// The short host name (`db`).
        public var hostName: String
        /// The full name with its trailing dot (`db.tailnet.test.`).
        public var name: String
        /// The peer's tailnet addresses.
        public var addresses: [IPPrefix]
        /// Whether control sees it connected; nil when unknown.
        public var online: Bool?
        /// When control last saw it (RFC 3339), when known.
        public var lastSeen: String?
        /// Its node key expired: WireGuard does not talk to it.
        public var expired: Bool
        /// Its home DERP region (0: none).
        public var homeDERP: Int
    }

    /// TCP segments the userspace stack sent again, by what decided to resend them (Linux's
    /// `TCPTimeouts`, `TCPFastRetrans`, `TCPLossProbes` are the same kinds).
    public struct TCPRetransmissions: Sendable, Equatable {
        /// After the retransmission timer expired (RFC 6298 §5.4): the go-back-N that follows, and
        /// SYN or SYN,ACK retransmissions.
        public var timeout: UInt64 = 0
        /// The oldest unacknowledged segment resent on duplicate ACKs (fast retransmit, RFC 5681 §3.2;
        /// NewReno partial ACKs, RFC 6582).
        public var fastRetransmit: UInt64 = 0
        /// Other segments resent during SACK loss recovery (RFC 6675 §5, RACK, RFC 8985 §6).
        public var lossRecovery: UInt64 = 0
        /// Tail loss probes that resent the last segment (RFC 8985 §7.3).
        public var tailLossProbe: UInt64 = 0
        /// Retransmission timer expiries (events, not segments; Linux `TCPTimeouts`).
        public var retransmissionTimeouts: UInt64 = 0
        /// Loss recoveries entered (events; Linux `TCPSackRecovery`).
        public var fastRecoveries: UInt64 = 0

        public init() {}

        /// All retransmitted segments.
        public var total: UInt64 { timeout + fastRetransmit + lossRecovery + tailLossProbe }

        /// The counts by a stable label: `timeout`, `fast_retransmit`, `loss_recovery`, `tail_loss_probe`.
        public var byKind: [(kind: String, count: UInt64)] {
            [("timeout", timeout), ("fast_retransmit", fastRetransmit), ("loss_recovery", lossRecovery),
             ("tail_loss_probe", tailLossProbe)]
        }
    }

    public var publicKey: PublicKey
    public var addresses: [IPPrefix]
    /// The UDP port the node listens on.
    public var listenPort: UInt16
    /// The UDP I/O path in use (`ioUring` or `portable`).
    public var transport: String
    /// TCP connections in the userspace stack (all states).
    public var tcpConnections: Int
    /// The same per TCP state (`ESTABLISHED`, `TIME-WAIT`, … as RFC 9293 §3.3.2 names them).
    public var tcpConnectionsByState: [String: Int] = [:]
    /// TCP segments the userspace stack retransmitted since the node started, by kind (all zero on
    /// the kernel TUN packet path: the host's TCP counts its own in `/proc/net/netstat`).
    public var tcpRetransmissions = TCPRetransmissions()
    public var peers: [Peer]
    /// The node's full tailnet name (`web.tailnet.test.`); nil for a static configuration.
    public var name: String?
    /// The control session's state (`running`, `reconnecting`, …); nil for a static configuration.
    public var controlState: ControlState?
    /// Control's last message (why it refused, why it is reconnecting), when there is one.
    public var controlMessage: String?
    /// Inbound packets the tailnet's packet filter dropped.
    public var filteredPackets: UInt64 = 0
    /// Time the engine's loop spent working (receiving, decrypting, running the stack, encrypting,
    /// sending) rather than waiting, since the node started. Its growth over wall time is how busy the
    /// one loop thread is: near 1 s per second, the loop is the bottleneck.
    public var engineBusyTime: Duration = .zero
    /// Turns the engine's loop has taken since the node started (each handles one batch).
    public var engineLoopTurns: UInt64 = 0
    /// How the userspace stack's listeners coped with connection attempts since the node started
    /// (SYN queue, SYN cookies, limits); all zero with a kernel TUN device.
    public var tcpListenerCounters = TCPListenerCounters()

    /// Counters of the userspace stack's TCP listeners: what a SYN flood or a greedy peer shows in.
    public struct TCPListenerCounters: Sendable, Equatable, Codable {
        /// SYN,ACKs sent with a SYN cookie because the listener's SYN queue was full.
        public var synCookiesSent: UInt64 = 0
        /// Final ACKs whose SYN cookie was valid (each rebuilt a connection, unless a limit refused it).
        public var synCookiesValidated: UInt64 = 0
        /// ACKs carrying a forged, stale or mismatched SYN cookie, answered with a RST.
        public var synCookiesRejected: UInt64 = 0
        /// Half-open connections dropped from a full SYN queue to make room for a new SYN.
        public var synQueueEvictions: UInt64 = 0
        /// SYNs dropped because the accept queue or the connection table was full.
        public var backlogDrops: UInt64 = 0
        /// SYNs dropped because their source address held its share of the connection table.
        public var perAddressLimitDrops: UInt64 = 0
        /// Connections reset on completing their handshake because the accept queue was full.
        public var acceptQueueOverflows: UInt64 = 0

        /// All zero.
        public init() {}
    }

    /// A snapshot from its parts (the tailnet fields start empty).
    public init(publicKey: PublicKey, addresses: [IPPrefix], listenPort: UInt16, transport: String,
                tcpConnections: Int, peers: [Peer]) {
        self.publicKey = publicKey
        self.addresses = addresses
        self.listenPort = listenPort
        self.transport = transport
        self.tcpConnections = tcpConnections
        self.peers = peers
    }

    /// A `wg show`-like summary.
    public var description: String {
        var lines = [
            "public key: \(publicKey)",
            "addresses: \(addresses.map(\.description).joined(separator: ", "))",
            "listening port: \(listenPort) (\(transport))",
            "tcp connections: \(tcpConnections)",
        ]
        if let name { lines.insert("name: \(name)", at: 1) }
        if let controlState {
            lines.append("control: \(controlState)" + (controlMessage.map { " (\($0))" } ?? ""))
            lines.append("filtered packets: \(filteredPackets)")
        }
        for peer in peers {
            lines.append("")
            lines.append("peer: \(peer.publicKey)")
            if let info = peer.tailnet {
                let online = info.online.map { $0 ? "online" : "offline" } ?? "unknown"
                lines.append("  name: \(info.name) (\(info.hostName)), \(online)\(info.expired ? ", key expired" : "")")
                lines.append("  addresses: \(info.addresses.map(\.description).joined(separator: ", "))")
            }
            if let endpoint = peer.endpoint { lines.append("  endpoint: \(endpoint)") }
            if let path = peer.path { lines.append("  path: \(path.description)") }
            if let age = peer.lastHandshakeAge {
                lines.append("  latest handshake: \(age.components.seconds) seconds ago")
            } else {
                lines.append("  latest handshake: none")
            }
            lines.append("  transfer: \(peer.receivedBytes) B received, \(peer.sentBytes) B sent")
            if peer.droppedPackets > 0 { lines.append("  dropped: \(peer.droppedPackets)") }
        }
        return lines.joined(separator: "\n")
    }
}
