/// What a ``WireGuardDevice`` reports to its ``WireGuardDevice/trace`` hook as it happens.
public enum DeviceTraceEvent: Sendable, Equatable {
    /// A handshake finished and a session (a new keypair) with `peer` began; `initiator`: this side
    /// sent the initiation.
    case sessionStarted(peer: PublicKey, initiator: Bool)
    /// A datagram or packet was dropped (the same event the drop counters count); `peer` when the
    /// drop is attributable to a configured peer.
    case dropped(DropReason, peer: PublicKey?)
}
