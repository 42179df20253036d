#if canImport(Glibc)
import Glibc
#endif
import Relay
import RelayTransport
import Wire
import WireGuard

/// The paths under tailnet peers: each peer's WireGuard endpoint is a fixed *handle* (an address
/// of the discard prefix `100::/64`, RFC 6666, that never reaches the wire) and this type decides,
/// datagram by datagram, whether the handle means a direct UDP endpoint (found and kept by disco)
/// or the peer's DERP relay region. WireGuard never learns which: its sessions continue across a
/// path change, so a transfer survives an upgrade to direct and a fallback to the relay.
///
/// Owned by the engine's loop thread, like WireGuard's state.
final class PeerPaths {
    /// Where the engine sends a datagram WireGuard addressed to `endpoint`.
    enum Resolution {
        /// Not a handle: a static peer's real endpoint.
        case passthrough
        case udp(IPEndpoint)
        case relay(PublicKey, region: Int)
        case drop
    }

    let derp: DERPClient
    let discovery: PathDiscovery
    private var keyByHandle: [IPEndpoint: PublicKey] = [:]
    private var handleByKey: [PublicKey: IPEndpoint] = [:]
    /// Peers' netmap home regions (0: control does not know it).
    private var homeRegion: [PublicKey: Int] = [:]
    private(set) var relayedOut: UInt64 = 0
    private(set) var droppedNoPath: UInt64 = 0

    /// The handle prefix: `100::/64`, the IPv6 discard-only block (RFC 6666).
    static let handlePrefixHigh: UInt64 = 0x0100_0000_0000_0000

    /// The WireGuard endpoint of the tailnet peer with control's node id `id`.
    static func handle(forPeerID id: Int64) -> IPEndpoint {
        IPEndpoint(.v6(IPv6Address(high: handlePrefixHigh, low: UInt64(bitPattern: id))), 0)
    }

    /// The node id a handle stands for; nil for any other endpoint.
    static func peerID(ofHandle endpoint: IPEndpoint) -> Int64? {
        guard isHandle(endpoint), case .v6(let v6) = endpoint.address else { return nil }
        return Int64(bitPattern: v6.low)
    }

    static func isHandle(_ endpoint: IPEndpoint) -> Bool {
        if case .v6(let v6) = endpoint.address, v6.high == handlePrefixHigh, endpoint.port == 0 { return true }
        return false
    }

    /// `seed` drives the non-secret random choices (reconnect jitter, ping transaction order): the
    /// engine passes one from its clock or injected source, so a simulated run replays.
    init(nodeKey: PrivateKey, discoKey: PrivateKey, plainHTTPForTestRelays: Bool, localEndpoints: [IPEndpoint], seed: UInt64) {
        var configuration = DERPClient.Configuration(privateKey: nodeKey)
        configuration.plainHTTPForTestRelays = plainHTTPForTestRelays
        configuration.seed = seed
        derp = DERPClient(configuration: configuration)
        discovery = PathDiscovery(discoKey: discoKey, nodeKey: nodeKey.publicKey, seed: seed ^ 0xD15C0)
        discovery.localEndpoints = localEndpoints
    }

    // MARK: Netmap

    /// Adds or updates a tailnet peer (its node key, disco key, home region, endpoints).
    func upsert(id: Int64, nodeKey: PublicKey, discoKey: Key32?, homeDERP: Int, endpoints: [IPEndpoint]) {
        let handle = Self.handle(forPeerID: id)
        if let old = keyByHandle[handle], old != nodeKey { remove(id: id) }
        keyByHandle[handle] = nodeKey
        handleByKey[nodeKey] = handle
        homeRegion[nodeKey] = homeDERP
        let region = homeDERP > 0 ? homeDERP : (derp.homeRegion ?? 0)
        if let discoKey {
            discovery.upsert(PathPeer(nodeKey: nodeKey, discoKey: PublicKey(discoKey), homeRegion: region,
                                      endpoints: endpoints.filter(PeerPathChoice.isUsable)))
        }
    }

    func remove(id: Int64) {
        let handle = Self.handle(forPeerID: id)
        guard let key = keyByHandle.removeValue(forKey: handle) else { return }
        handleByKey[key] = nil
        homeRegion[key] = nil
        discovery.remove(key)
    }

    /// Takes the netmap's DERP map; this node's home is the region with the lowest ID that has a
    /// relay (no region latency is measured yet).
    func setDERPMap(_ map: DERPMap, now: NetInstant) {
        var regions: [Int: DERPRegion] = [:]
        for (id, region) in map.regions {
            let nodes = region.nodes.compactMap { node -> DERPNode? in
                guard let host = node.hostName ?? node.ipv4 ?? node.ipv6 else { return nil }
                return DERPNode(name: node.name ?? "\(id)", regionID: id, hostName: host, ipv4: node.ipv4, ipv6: node.ipv6,
                                derpPort: node.derpPort, insecureForTests: node.insecureForTests)
            }
            regions[id] = DERPRegion(regionID: id, regionCode: region.regionCode ?? "", nodes: nodes)
        }
        derp.setMap(Relay.DERPMap(regions: regions), home: Self.homeRegion(in: map), now: now)
    }

    /// This node's home region in `map`: the lowest region ID with a relay node.
    static func homeRegion(in map: DERPMap) -> Int? {
        map.regions.filter { !$0.value.nodes.isEmpty }.keys.min()
    }

    // MARK: Data path

    /// Where a datagram WireGuard addressed to `endpoint` goes.
    func resolve(_ endpoint: IPEndpoint, now: NetInstant) -> Resolution {
        guard Self.isHandle(endpoint) else { return .passthrough }
        guard let key = keyByHandle[endpoint] else { return .drop }
        switch discovery.route(to: key, now: now) {
        case .direct(let direct): return .udp(direct)
        case .relay(let region): return .relay(key, region: region)
        case .unreachable:
            // A peer without a disco key: its first netmap endpoint, else its home relay.
            if let region = homeRegion[key], region > 0 { return .relay(key, region: region) }
            if let region = derp.homeRegion { return .relay(key, region: region) }
            droppedNoPath += 1
            return .drop
        }
    }

    /// The endpoint to hand WireGuard for a datagram from `source`: the peer's handle when the
    /// source is one of its candidate paths, else the source itself.
    func inboundEndpoint(for source: IPEndpoint) -> IPEndpoint {
        guard let key = discovery.peer(at: source), let handle = handleByKey[key] else { return source }
        return handle
    }

    /// The handle of the peer with node key `key` (packets that came through a relay).
    func handle(of key: PublicKey) -> IPEndpoint? { handleByKey[key] }

    /// True when `key` is a tailnet peer whose endpoint must stay its handle.
    func manages(_ key: PublicKey) -> Bool { handleByKey[key] != nil }

    /// Records a datagram that left through a relay.
    func noteRelayed() { relayedOut &+= 1 }

    // MARK: Status

    /// The path of `key` now, as text and latency, for status output.
    func pathStatus(of key: PublicKey, now: NetInstant) -> NodeStatus.PeerPath? {
        guard let status = discovery.status(of: key, now: now) else { return nil }
        switch status.route {
        case .direct(let endpoint): return .init(kind: .direct, endpoint: endpoint.description, region: nil, latency: status.latency)
        case .relay(let region):
            let latency = derp.status.first { $0.regionID == region }?.latency
            return .init(kind: .relayed, endpoint: nil, region: region, latency: latency)
        case .unreachable: return .init(kind: .none, endpoint: nil, region: nil, latency: nil)
        }
    }
}
