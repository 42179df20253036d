import WireNet

/// NetmapUpdate(json:): the control helper's netmap JSON (`Docs/control-plane.md`) never traps —
/// malformed JSON throws `ControlProtocolError`, bad peers and rules are left out and named — and what
/// it accepts is consistent: each peer has allowed IPs when it has addresses, and port ranges are ordered.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let update = try? NetmapUpdate(json: input) else { return 0 }
    for peer in update.peers {
        precondition(peer.addresses.isEmpty || !peer.allowedIPs.isEmpty, "a peer with addresses lost its allowed IPs")
        for endpoint in peer.endpoints { _ = endpoint.description }
    }
    for rule in update.packetFilter ?? [] {
        precondition(!rule.protocols.isEmpty, "a rule without protocols must get tailscale's default")
        for destination in rule.destinations {
            precondition(destination.ports.lowerBound <= destination.ports.upperBound)
        }
    }
    _ = update.derpMap?.regions.count
    return 0
}
