import Wire
import WireGuard

/// Which UDP endpoint WireGuard sends a tailnet peer's packets to.
///
/// Always the peer's handle: the path under it (direct or relayed) is ``PeerPaths``' choice.
enum PeerPathChoice {
    /// The endpoint to configure for `peer`: its handle, under which ``PeerPaths`` picks a direct
    /// UDP path (disco) or its DERP relay datagram by datagram.
    static func endpoint(for peer: TailnetPeer) -> IPEndpoint? {
        PeerPaths.handle(forPeerID: peer.id)
    }

    /// Not the unspecified address, not port 0, not multicast.
    static func isUsable(_ endpoint: IPEndpoint) -> Bool {
        guard endpoint.port != 0 else { return false }
        switch endpoint.address {
        case .v4(let v4):
            let top = v4.rawValue >> 24
            return v4.rawValue != 0 && !(224...239).contains(top)
        case .v6(let v6):
            return !(v6.high == 0 && v6.low == 0) && (v6.high >> 56) != 0xFF
        }
    }
}
