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
    /// Lower-cased short host names and full names (no trailing dot) to node ids.
    private var names: [String: Int64] = [:]

    var count: Int { peers.count }

    /// Folds a netmap in and returns the WireGuard changes it implies.
    mutating func apply(_ update: NetmapUpdate) -> Changes {
        var changes = Changes()
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
        names[Self.key(name)].flatMap { peers[$0] }
    }

    /// The peer with this node key.
    func peer(withKey key: PublicKey) -> TailnetPeer? {
        peers.values.first { $0.nodeKey == key }
    }

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
        for name in [peer.hostName, peer.name] where !name.isEmpty {
            let key = Self.key(name)
            if names[key] == nil { names[key] = peer.id }
        }
    }

    private mutating func unindex(_ peer: TailnetPeer) {
        for name in [peer.hostName, peer.name] where !name.isEmpty {
            let key = Self.key(name)
            if names[key] == peer.id { names[key] = nil }
        }
    }

    private static func key(_ name: String) -> String {
        var text = name.lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
