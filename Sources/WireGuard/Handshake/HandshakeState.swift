/// One peer's Noise handshake in progress (wireguard-go `Handshake`): chaining key, hash, ephemeral key,
/// indices, and the replay/flood memory for initiations. Secrets are wiped when cleared or released.
final class HandshakeState {
    /// Where the handshake stands (wireguard-go `handshakeState`).
    enum Phase {
        case zeroed
        case initiationCreated
        case initiationConsumed
        case responseCreated
        case responseConsumed
    }

    var phase: Phase = .zeroed
    var hash = Key32()
    var chainKey = Key32()
    var localEphemeral = Key32()
    var remoteEphemeral = Key32()
    /// Our index for this handshake while it is in flight (0 when none is registered).
    var localIndex: UInt32 = 0
    var remoteIndex: UInt32 = 0

    /// Greatest initiation timestamp accepted from the peer (replay protection, paper §5.1).
    var lastTimestamp = TAI64N(seconds: 0, nanoseconds: 0)
    /// When we last accepted an initiation from the peer (flood protection, paper §5.3).
    var lastInitiationConsumption: NetInstant?
    /// When we last created an initiation (rate limit of our own initiations, paper §6.4).
    var lastSentInitiation: NetInstant?

    /// Wipes keys and returns to `.zeroed`; replay and rate-limit memory is kept.
    func clear() {
        hash.wipe()
        chainKey.wipe()
        localEphemeral.wipe()
        remoteEphemeral.wipe()
        localIndex = 0
        remoteIndex = 0
        phase = .zeroed
    }

    deinit { clear() }
}
