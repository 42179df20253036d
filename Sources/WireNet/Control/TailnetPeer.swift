import Wire
import WireGuard

/// One other node of the tailnet, as the latest netmap describes it.
public struct TailnetPeer: Sendable, Equatable {
    /// Control's numeric node id (the key of deltas and removals).
    public var id: Int64
    /// Control's stable node id.
    public var stableID: String
    /// The full (MagicDNS) name, with its trailing dot: `db.tailnet.test.`.
    public var name: String
    /// The short host name: `db`.
    public var hostName: String
    /// The peer's WireGuard public key (tailscale's node key).
    public var nodeKey: PublicKey
    /// The peer's disco public key (path discovery); nil when control sent none.
    public var discoKey: Key32?
    /// The peer's own tailnet addresses.
    public var addresses: [IPPrefix]
    /// What the peer may send from and what is routed to it.
    public var allowedIPs: [IPPrefix]
    /// The UDP endpoints the peer reported, in control's order.
    public var endpoints: [IPEndpoint]
    /// The peer's home DERP region (0: none).
    public var homeDERP: Int
    /// Whether control sees the peer connected; nil when unknown.
    public var online: Bool?
    /// When control last saw the peer (RFC 3339 text as control sent it); nil when unknown.
    public var lastSeen: String?
    /// The peer's node key has expired; WireGuard does not talk to it.
    public var expired: Bool

    /// Field-by-field equality (disco keys compared by their bytes).
    public static func == (a: TailnetPeer, b: TailnetPeer) -> Bool {
        a.id == b.id && a.stableID == b.stableID && a.name == b.name && a.hostName == b.hostName
            && a.nodeKey == b.nodeKey && a.discoKey?.bytes == b.discoKey?.bytes && a.addresses == b.addresses
            && a.allowedIPs == b.allowedIPs && a.endpoints == b.endpoints && a.homeDERP == b.homeDERP
            && a.online == b.online && a.lastSeen == b.lastSeen && a.expired == b.expired
    }

    /// Whether the change from `old` to `self` needs WireGuard's peer entry touched.
    func changesWireGuard(from old: TailnetPeer) -> Bool {
        old.nodeKey != nodeKey || old.allowedIPs != allowedIPs || old.endpoints != endpoints
            || old.expired != expired || old.homeDERP != homeDERP || old.discoKey?.bytes != discoKey?.bytes
    }
}

/// This node as the netmap describes it.
public struct TailnetSelf: Sendable, Equatable {
    /// Control's numeric node id.
    public var id: Int64
    /// The full name, with its trailing dot.
    public var name: String
    /// The tailnet addresses control gave this node.
    public var addresses: [IPPrefix]
    /// Whether an admin (or the auth key) authorised the machine.
    public var machineAuthorized: Bool
}
