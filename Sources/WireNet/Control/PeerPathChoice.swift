import Wire
import WireGuard

/// Which UDP endpoint WireGuard sends a tailnet peer's packets to.
///
/// For now: the first endpoint control listed that can carry traffic. Path discovery (disco pings,
/// DERP relays) replaces this one function; every caller goes through it.
enum PeerPathChoice {
    /// The endpoint to configure for `peer`, or nil when none is usable (the peer must reach us first).
    static func endpoint(for peer: TailnetPeer) -> Endpoint? {
        peer.endpoints.first(where: isUsable)
    }

    /// Not the unspecified address, not port 0, not multicast.
    static func isUsable(_ endpoint: Endpoint) -> Bool {
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
