import Wire

/// How a peer is configured (the `[Peer]` section of a WireGuard configuration).
public struct PeerConfiguration: Sendable {
    /// The peer's static public key: its identity.
    public var publicKey: PublicKey
    /// Optional pre-shared key mixed into the handshake (Noise `psk2`).
    public var presharedKey: PresharedKey?
    /// Where to send to until the peer is heard from (roaming replaces it with the source of its
    /// authenticated packets).
    public var endpoint: IPEndpoint?
    /// Prefixes the peer may use as inner source, and that route outgoing packets to it.
    public var allowedIPs: [IPPrefix]
    /// Send a keepalive after this much time without any authenticated packet (nil: off).
    public var persistentKeepalive: Duration?

    public init(publicKey: PublicKey, presharedKey: PresharedKey? = nil, endpoint: IPEndpoint? = nil,
                allowedIPs: [IPPrefix] = [], persistentKeepalive: Duration? = nil) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.persistentKeepalive = persistentKeepalive
    }
}

/// A snapshot of a peer's state for status displays and tests.
public struct PeerStatus: Sendable {
    public var publicKey: PublicKey
    public var endpoint: IPEndpoint?
    /// When the last handshake completed.
    public var lastHandshake: NetInstant?
    public var receivedBytes: UInt64
    public var sentBytes: UInt64
    /// Authenticated WireGuard messages received from the peer (transport data, keepalives, handshakes).
    public var receivedPackets: UInt64
    /// WireGuard messages sent to the peer (transport data, keepalives, handshakes).
    public var sentPackets: UInt64
    /// Datagrams and packets dropped for this peer, by reason.
    public var drops: DropCounters
    /// Whether a current keypair exists that may send.
    public var hasSession: Bool
    /// Packets waiting for a handshake.
    public var stagedPackets: Int
    /// Initiations sent since the last completed handshake.
    public var handshakeAttempts: Int
    /// Completed handshakes (both roles).
    public var handshakesCompleted: UInt64
}

/// One configured peer: static identity, handshake, keypairs, timers, staged packets and counters.
final class Peer {
    let publicKey: PublicKey
    var presharedKey: PresharedKey?
    /// `DH(S_priv_local, S_pub_peer)`, computed once (wireguard-go `precomputedStaticStatic`).
    private(set) var staticStatic: Key32
    let handshake = HandshakeState()
    let cookieGenerator: CookieGenerator
    @exclusivity(unchecked) var keypairs = KeypairSet()
    @exclusivity(unchecked) var endpoint: IPEndpoint?
    var persistentKeepalive: Duration?
    var allowedIPs: [IPPrefix]
    /// Every change marks the peer's slot in the device's timer schedule stale, so the schedule's
    /// heap is read again from here before the device looks for due timers.
    @exclusivity(unchecked) var timers = PeerTimers() {
        didSet {
            guard !timersStale else { return }
            timersStale = true
            timerSchedule.markStale(timerSlot)
        }
    }
    /// This peer's key in `timerSchedule` (dense, reused after the peer is removed).
    let timerSlot: Int32
    let timerSchedule: PeerTimerSchedule
    /// The slot is on the schedule's stale list.
    var timersStale = false
    var staged = StagedPackets()
    var drops = DropCounters()
    @exclusivity(unchecked) var receivedBytes: UInt64 = 0
    @exclusivity(unchecked) var sentBytes: UInt64 = 0
    @exclusivity(unchecked) var receivedPackets: UInt64 = 0
    @exclusivity(unchecked) var sentPackets: UInt64 = 0
    var lastHandshake: NetInstant?
    var handshakesCompleted: UInt64 = 0

    /// An initiation should go out at the next poll.
    var wantsInitiation = false
    /// A keepalive should go out at the next poll (or after the coming handshake).
    var wantsKeepalive = false
    /// The peer is on the device's list of peers with output to produce.
    var isReady = false

    init(configuration: PeerConfiguration, local: PrivateKey, timerSlot: Int32, timerSchedule: PeerTimerSchedule) {
        self.timerSlot = timerSlot
        self.timerSchedule = timerSchedule
        publicKey = configuration.publicKey
        presharedKey = configuration.presharedKey
        endpoint = configuration.endpoint
        persistentKeepalive = configuration.persistentKeepalive
        allowedIPs = configuration.allowedIPs
        staticStatic = local.sharedSecret(with: configuration.publicKey) ?? Key32()
        cookieGenerator = CookieGenerator(peerPublicKey: configuration.publicKey)
    }

    deinit { staticStatic.wipe() }

    func status() -> PeerStatus {
        PeerStatus(
            publicKey: publicKey, endpoint: endpoint, lastHandshake: lastHandshake, receivedBytes: receivedBytes,
            sentBytes: sentBytes, receivedPackets: receivedPackets, sentPackets: sentPackets, drops: drops, hasSession: keypairs.current != nil,
            stagedPackets: staged.count, handshakeAttempts: timers.handshakeAttempts,
            handshakesCompleted: handshakesCompleted)
    }
}
