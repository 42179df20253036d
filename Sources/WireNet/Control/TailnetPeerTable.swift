import Wire
import WireGuard

/// The tailnet's peers as the netmaps so far describe them, keyed by control's node id, with the
/// name table that `dial(tcp: "db", …)` resolves against.
///
/// ``apply(_:)`` folds one netmap (full or delta) in and returns what WireGuard must change; a peer
/// whose record changed only in fields WireGuard does not use (online, last seen) is not touched.
struct TailnetPeerTable {
    /// What one netmap changes in WireGuard.
    struct Changes {
        /// Peers to add, or to update (allowed IPs, endpoint): the new records, with the old one.
        var upserts: [(new: TailnetPeer, old: TailnetPeer?)] = []
        /// Peers to take out of WireGuard (left the tailnet, expired, or rotated their node key).
        var removals: [TailnetPeer] = []
    }

    private(set) var peers: [Int64: TailnetPeer] = [:]
    /// Lower-cased names (no trailing dot) to node ids: short host names, and full names only where
    /// they are not `<host name>.<domain>` (those resolve through the host name).
    private var names: [String: Int64] = [:]
    /// The tailnet's DNS domain (`tailnet.test`), lower-cased; full names under it resolve by their first label.
    private(set) var domain = ""
    /// Host routes (/32, /128) of peers' allowed IPs to node ids: which peer an outbound packet is for.
    private var hostRoutes: [IPAddress: Int64] = [:]
    /// Wider allowed IPs (subnet routes), few: scanned, longest prefix wins.
    private var wideRoutes: [(prefix: IPPrefix, id: Int64)] = []
    /// Peers' control-given endpoints to node ids: who an inbound handshake comes from.
    private var endpoints: [IPEndpoint: Int64] = [:]

    var count: Int { peers.count }

    /// Folds a netmap in and returns the WireGuard changes it implies.
    mutating func apply(_ update: NetmapUpdate) -> Changes {
        var changes = Changes()
        if let domain = update.domain?.lowercased(), domain != self.domain {
            // Names were indexed under the old domain: index them again.
            let all = Array(peers.values)
            for peer in all { unindex(peer) }
            self.domain = domain.hasSuffix(".") ? String(domain.dropLast()) : domain
            for peer in all { index(peer) }
        }
        if update.isFull, peers.isEmpty {
            // The first map: size the tables once instead of growing (and rehashing) them 14 times.
            let count = update.peers.count
            peers.reserveCapacity(count)
            names.reserveCapacity(count)
            hostRoutes.reserveCapacity(2 * count)
            endpoints.reserveCapacity(count)
        }
        if update.isFull {
            let listed = Set(update.peers.map(\.id))
            for (id, old) in peers where !listed.contains(id) {
                remove(id)
                if !old.expired { changes.removals.append(old) }
            }
        }
        for id in update.removed {
            if let old = peers[id] {
                remove(id)
                if !old.expired { changes.removals.append(old) }
            }
        }
        for peer in update.peers {
            let old = peers[peer.id]
            if let old { unindex(old) }
            peers[peer.id] = peer
            index(peer)
            if let old, old.nodeKey != peer.nodeKey || (peer.expired && !old.expired) {
                if !old.expired { changes.removals.append(old) }
                if !peer.expired { changes.upserts.append((peer, nil)) }
            } else if let old {
                if !peer.expired, old.expired { changes.upserts.append((peer, nil)) }
                else if !peer.expired, peer.changesWireGuard(from: old) { changes.upserts.append((peer, old)) }
            } else if !peer.expired {
                changes.upserts.append((peer, nil))
            }
        }
        return changes
    }

    /// The peer a name means: its short host name or its full name, any case, with or without the
    /// trailing dot.
    func peer(named name: String) -> TailnetPeer? {
        let key = Self.key(name)
        if let id = names[key] { return peers[id] }
        // `host.<domain>`: the host name's entry, if that peer's full name is indeed this one.
        guard !domain.isEmpty, key.hasSuffix("." + domain) else { return nil }
        let host = String(key.dropLast(domain.count + 1))
        guard let id = names[host], let peer = peers[id], Self.key(peer.name) == key else { return nil }
        return peer
    }

    /// The names a peer is indexed under: its host name, and its full name unless that is
    /// `<host name>.<domain>`.
    private func indexedNames(_ peer: TailnetPeer) -> [String] {
        var keys: [String] = []
        if !peer.hostName.isEmpty { keys.append(Self.key(peer.hostName)) }
        let full = Self.key(peer.name)
        if !full.isEmpty, full != Self.key(peer.hostName) + "." + domain || domain.isEmpty { keys.append(full) }
        return keys
    }

    /// The peer with this node key.
    func peer(withKey key: PublicKey) -> TailnetPeer? {
        peers.values.first { $0.nodeKey == key }
    }

    /// The peer whose allowed IPs contain `address` (longest prefix).
    func peer(routing address: IPAddress) -> TailnetPeer? {
        if let id = hostRoutes[address] { return peers[id] }
        let best = wideRoutes.filter { $0.prefix.contains(address) }.max { $0.prefix.length < $1.prefix.length }
        return best.flatMap { peers[$0.id] }
    }

    /// The peer that listed `endpoint` among its endpoints.
    func peer(at endpoint: IPEndpoint) -> TailnetPeer? {
        endpoints[endpoint].flatMap { peers[$0] }
    }

    /// The peer with this node id.
    func peer(id: Int64) -> TailnetPeer? { peers[id] }

    /// The address a name resolves to: the peer's first IPv4 address, else its first address.
    func resolve(_ name: String) -> IPAddress? {
        guard let peer = peer(named: name) else { return nil }
        let addresses = peer.addresses.map(\.address)
        return addresses.first { if case .v4 = $0 { true } else { false } } ?? addresses.first
    }

    private mutating func remove(_ id: Int64) {
        if let old = peers.removeValue(forKey: id) { unindex(old) }
    }

    private mutating func index(_ peer: TailnetPeer) {
        for key in indexedNames(peer) where names[key] == nil { names[key] = peer.id }
        for prefix in peer.allowedIPs {
            if prefix.length == prefix.address.bitWidth {
                if hostRoutes[prefix.address] == nil { hostRoutes[prefix.address] = peer.id }
            } else {
                wideRoutes.append((prefix, peer.id))
            }
        }
        for endpoint in peer.endpoints where endpoints[endpoint] == nil { endpoints[endpoint] = peer.id }
    }

    private mutating func unindex(_ peer: TailnetPeer) {
        for key in indexedNames(peer) where names[key] == peer.id { names[key] = nil }
        for prefix in peer.allowedIPs where prefix.length == prefix.address.bitWidth && hostRoutes[prefix.address] == peer.id {
            hostRoutes[prefix.address] = nil
        }
        if peer.allowedIPs.contains(where: { $0.length != $0.address.bitWidth }) {
            wideRoutes.removeAll { $0.id == peer.id }
        }
        for endpoint in peer.endpoints where endpoints[endpoint] == peer.id { endpoints[endpoint] = nil }
    }

    private static func key(_ name: String) -> String {
        var text = name.lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
