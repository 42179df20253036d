import Wire

/// Device-wide settings (the `[Interface]` section, minus what belongs to I/O).
public struct DeviceConfiguration: Sendable {
    /// Our static private key.
    public var privateKey: PrivateKey
    /// Inner MTU; plaintext is padded to a multiple of 16 but never beyond it (paper §5.4.6).
    public var mtu: Int
    /// Handshake messages per second above which the device is "under load" and demands mac2 cookies
    /// (paper §5.4.7). 0 means always under load. wireguard-go measures load as handshake queue depth;
    /// this sans-IO core counts messages per one-second window instead.
    public var handshakeLoadThreshold: Int
    /// Handshake messages per second the device examines (mac1 and beyond) while under load; the
    /// rest are dropped after the type and length check (``DropReason/handshakeBudgetExceeded``), a
    /// tenth of a second's worth may come at once. This bounds what a flood from any number of
    /// sources costs the one thread that also carries the data path (wireguard-go bounds the same
    /// work with a handshake queue of 1024 that drops when full, `QueueHandshakeSize`). Keep it
    /// above ``handshakeLoadThreshold``, or the messages examined no longer keep the device under load.
    public var handshakeMessagesPerSecondUnderLoad: Int
    /// Ties `now` to wall-clock time for initiation timestamps.
    public var wallClock: WallClockAnchor
    /// The non-secret random choices: retransmission jitter (paper §6.1) and session indices
    /// (paper §5.4.2). ``RandomSource/system`` in production; a seed makes a simulated run replay.
    /// Ephemeral keys and cookie secrets always come from libsodium.
    public var random: RandomSource

    public init(privateKey: PrivateKey, mtu: Int = 1420, handshakeLoadThreshold: Int = 1000,
                handshakeMessagesPerSecondUnderLoad: Int = 4096,
                wallClock: WallClockAnchor, random: RandomSource = .system) {
        self.privateKey = privateKey
        self.mtu = mtu
        self.handshakeLoadThreshold = handshakeLoadThreshold
        self.handshakeMessagesPerSecondUnderLoad = handshakeMessagesPerSecondUnderLoad
        self.wallClock = wallClock
        self.random = random
    }
}

/// What became of a received datagram.
public enum ReceiveResult: Equatable, Sendable {
    /// A transport message decrypted in place: the inner IP packet is `buffer[range]`, from `peer`
    /// (its source address checked against the peer's allowed IPs).
    case packet(peer: PublicKey, range: Range<Int>)
    /// Send `buffer[0..<length]` back to `endpoint` (a handshake response or a cookie reply).
    case reply(to: IPEndpoint, length: Int)
    /// Authenticated and handled (a keepalive, a handshake response, a cookie reply); nothing to deliver.
    case processed
    /// Dropped and counted.
    case dropped(DropReason)
}

/// What became of an outgoing packet.
public enum SendResult: Equatable, Sendable {
    /// Encrypted in place: send `buffer[0..<length]` to `endpoint`.
    case datagram(to: IPEndpoint, length: Int)
    /// Held until a handshake completes; the datagrams come out of ``WireGuardDevice/poll(into:now:)``.
    case queued
    /// Dropped and counted.
    case dropped(DropReason)
}

/// What ``WireGuardDevice/poll(into:now:)`` produced.
public enum PollResult: Equatable, Sendable {
    /// Send `buffer[0..<length]` to `endpoint`, then poll again.
    case datagram(to: IPEndpoint, length: Int)
    /// Nothing more to send; call `poll` again at `nextDeadline` (nil: only after new input).
    case idle(nextDeadline: NetInstant?)
}

/// Errors in configuring the device.
public enum WireGuardConfigurationError: Error, Equatable, CustomStringConvertible {
    /// The peer's public key gives an all-zero shared secret (a low-order point) or is our own key.
    case unusablePublicKey(PublicKey)
    /// No peer with this public key is configured.
    case unknownPeer(PublicKey)

    public var description: String {
        switch self {
        case .unusablePublicKey(let key): "peer public key \(key) cannot be used (low-order point or our own key)"
        case .unknownPeer(let key): "no peer with public key \(key) is configured"
        }
    }
}

/// A sans-IO WireGuard device: the peer table, handshakes, transport encryption, timers and
/// cryptokey routing. It reads no clock and touches no socket.
///
/// Driving it (one owner thread; the type is not thread-safe):
/// - For every received UDP datagram, call ``receive(_:length:from:now:)`` with a buffer holding
///   it (capacity at least 148 bytes) and act on the ``ReceiveResult``.
/// - For every outgoing IP packet, place it at offset ``TransportDataLayout/headerSize`` (16) of a
///   buffer with ``sendTailroom`` spare bytes after it and call ``send(_:packetLength:gathering:now:)``; on
///   `.datagram` transmit the buffer's first `length` bytes.
/// - After any call, and whenever `now` reaches the deadline it last returned, call
///   ``poll(into:now:)`` until it returns `.idle(nextDeadline:)`, sending each datagram it produces.
///   This delivers handshake initiations and retries, keepalives and packets that waited for a session.
public final class WireGuardDevice {
    /// Bytes needed after an outgoing packet: up to 15 of padding and the 16-byte tag.
    public static let sendTailroom = ProtocolConstants.paddingMultiple - 1 + ChaCha20Poly1305.tagSize

    /// Which object owns one of our indices (wireguard-go `IndexTableEntry`).
    enum IndexEntry {
        case handshake(Peer)
        case keypair(Keypair)

        var peer: Peer {
            switch self {
            case .handshake(let peer): peer
            case .keypair(let keypair): keypair.peer
            }
        }
    }

    public let privateKey: PrivateKey
    public var publicKey: PublicKey { privateKey.publicKey }
    /// Inner MTU used for padding.
    public var mtu: Int
    /// See ``DeviceConfiguration/handshakeLoadThreshold``.
    public var handshakeLoadThreshold: Int
    /// See ``DeviceConfiguration/handshakeMessagesPerSecondUnderLoad``.
    public var handshakeMessagesPerSecondUnderLoad: Int
    /// See ``DeviceConfiguration/wallClock``; update it if the wall clock steps.
    public var wallClock: WallClockAnchor

    var peers: [PublicKey: Peer] = [:]
    var routes = AllowedIPs<Peer>()
    var indexTable: [UInt32: IndexEntry] = [:]
    let cookieChecker: CookieChecker
    /// Per-source limits on handshake messages under load.
    var rateLimiter = HandshakeRateLimiter()
    /// Per-source limits on cookie replies under load (the same numbers as `rateLimiter`).
    var cookieReplyLimiter = HandshakeRateLimiter()
    /// The device-wide bound on handshake messages examined under load.
    var handshakeBudget = HandshakeBudget()
    /// See ``DeviceConfiguration/random``.
    var random: RandomSource
    /// Drops not attributable to a configured peer (and, summed, all drops).
    public private(set) var drops = DropCounters()
    /// Called with each ``DeviceTraceEvent`` as it happens, on the thread that drives the device; it
    /// must return quickly. nil (the default) costs one check where an event would be reported.
    public var trace: (@Sendable (DeviceTraceEvent) -> Void)?

    var readyPeers: [Peer] = []
    /// Each peer's earliest timer deadline (see `PeerTimerSchedule`).
    let timerSchedule = PeerTimerSchedule()
    /// Peers by their `timerSlot`.
    var peersBySlot: [Peer?] = []
    /// Scratch list of the peers a poll found due (reused, so firing timers does not allocate).
    var duePeers: [Peer] = []
    /// Peers whose timers a poll visited because one was due (peers without a due timer are never
    /// visited).
    var timerVisits = 0

    var loadWindowStart = NetInstant.zero
    var loadWindowCount = 0
    var underLoadUntil: NetInstant?

    public init(configuration: DeviceConfiguration) {
        precondition(Sodium.initialized, "libsodium failed to initialise")
        privateKey = configuration.privateKey
        mtu = configuration.mtu
        handshakeLoadThreshold = configuration.handshakeLoadThreshold
        handshakeMessagesPerSecondUnderLoad = configuration.handshakeMessagesPerSecondUnderLoad
        wallClock = configuration.wallClock
        random = configuration.random
        cookieChecker = CookieChecker(localPublicKey: configuration.privateKey.publicKey)
        readyPeers.reserveCapacity(64)
    }

    // MARK: - Peers

    /// Adds a peer, or replaces the settings of an existing one (keeping its sessions).
    public func addPeer(_ configuration: PeerConfiguration) throws {
        let key = configuration.publicKey
        if let existing = peers[key] {
            existing.presharedKey = configuration.presharedKey
            if let endpoint = configuration.endpoint { existing.endpoint = endpoint }
            existing.persistentKeepalive = configuration.persistentKeepalive
            existing.allowedIPs = configuration.allowedIPs
            routes.removeAll { $0 === existing }
            for prefix in configuration.allowedIPs { routes.insert(prefix, value: existing) }
            return
        }
        // The shared secret itself is the peer's to compute; this one only checks and is wiped.
        guard key != publicKey, var check = privateKey.sharedSecret(with: key) else {
            throw WireGuardConfigurationError.unusablePublicKey(key)
        }
        check.wipe()
        let slot = timerSchedule.allocateSlot()
        let peer = Peer(configuration: configuration, local: privateKey, timerSlot: slot, timerSchedule: timerSchedule)
        if Int(slot) < peersBySlot.count { peersBySlot[Int(slot)] = peer } else { peersBySlot.append(peer) }
        peers[key] = peer
        for prefix in configuration.allowedIPs { routes.insert(prefix, value: peer) }
    }

    /// Removes a peer and erases its keys.
    public func removePeer(_ key: PublicKey) throws {
        guard let peer = peers.removeValue(forKey: key) else { throw WireGuardConfigurationError.unknownPeer(key) }
        routes.removeAll { $0 === peer }
        zeroKeyMaterial(peer)
        readyPeers.removeAll { $0 === peer }
        peer.isReady = false
        peersBySlot[Int(peer.timerSlot)] = nil
        timerSchedule.freeSlot(peer.timerSlot)
    }

    /// The configured peers' public keys.
    public var peerKeys: [PublicKey] { Array(peers.keys) }

    /// A snapshot of one peer's state.
    public func status(of key: PublicKey) -> PeerStatus? { peers[key]?.status() }

    /// The peer whose allowed IPs contain `address`, if any.
    public func route(for address: IPAddress) -> PublicKey? { routes.lookup(address)?.publicKey }

    /// Sets or replaces a peer's endpoint (for configuration; roaming updates it automatically).
    public func setEndpoint(_ endpoint: IPEndpoint?, of key: PublicKey) throws {
        guard let peer = peers[key] else { throw WireGuardConfigurationError.unknownPeer(key) }
        peer.endpoint = endpoint
    }

    /// Starts a new handshake with `key` now, even within `Rekey-Timeout` of the last one (forced
    /// rekey); the initiation comes out of the next ``poll(into:now:)``.
    public func initiateHandshake(with key: PublicKey, now: NetInstant) throws {
        guard let peer = peers[key] else { throw WireGuardConfigurationError.unknownPeer(key) }
        peer.handshake.lastSentInitiation = nil
        requestInitiation(peer, isRetry: false, now: now)
    }

    /// Whether the device currently demands cookies (mac2) on handshake messages.
    public func isUnderLoad(now: NetInstant) -> Bool {
        underLoadUntil.map { now < $0 } ?? false
    }

    // MARK: - Index table

    /// Registers a fresh random non-zero index for `entry`.
    func newIndex(for entry: IndexEntry) -> UInt32 {
        while true {
            let index = random.next32()
            if index != 0, indexTable[index] == nil {
                indexTable[index] = entry
                return index
            }
        }
    }

    /// Forgets a keypair: its index stops resolving, and its keys are wiped once released.
    func retire(_ keypair: Keypair?) {
        guard let keypair else { return }
        if case .keypair(let registered)? = indexTable[keypair.localIndex], registered === keypair {
            indexTable[keypair.localIndex] = nil
        }
    }

    /// Forgets the handshake in flight and its index.
    func clearHandshake(_ peer: Peer) {
        let index = peer.handshake.localIndex
        if index != 0, case .handshake(let owner)? = indexTable[index], owner === peer {
            indexTable[index] = nil
        }
        peer.handshake.clear()
    }

    /// Erases all of a peer's keys and staged packets (paper §6.3; wireguard-go `ZeroAndFlushAll`).
    func zeroKeyMaterial(_ peer: Peer) {
        retire(peer.keypairs.previous)
        retire(peer.keypairs.current)
        retire(peer.keypairs.next)
        peer.keypairs = KeypairSet()
        clearHandshake(peer)
        peer.staged.removeAll()
        peer.wantsKeepalive = false
    }

    /// `Rekey-Timeout` jitter: a random 0–333 ms (paper §6.1: avoids synchronised initiations;
    /// wireguard-go `RekeyTimeoutJitterMaxMs`).
    func jitter() -> Duration {
        .milliseconds(Int64(random.next() % UInt64(ProtocolConstants.rekeyTimeoutJitterMaxMilliseconds)))
    }

    // MARK: - Counting

    @inline(__always)
    func drop(_ reason: DropReason, peer: Peer? = nil) -> ReceiveResult {
        count(reason, peer: peer)
        return .dropped(reason)
    }

    @inline(__always)
    func count(_ reason: DropReason, peer: Peer?) {
        drops.increment(reason)
        peer?.drops.increment(reason)
        if let trace { trace(.dropped(reason, peer: peer?.publicKey)) }
    }

    /// Counts a handshake message toward load and says whether the device is under load
    /// (paper §5.4.7; wireguard-go stays under load for `UnderLoadAfterTime` once triggered).
    func noteHandshakeMessage(now: NetInstant) -> Bool {
        if now.since(loadWindowStart) >= .seconds(1) {
            loadWindowStart = now
            loadWindowCount = 0
        }
        loadWindowCount += 1
        if loadWindowCount > handshakeLoadThreshold {
            underLoadUntil = now + ProtocolConstants.underLoadAfterTime
        }
        return isUnderLoad(now: now)
    }
}
