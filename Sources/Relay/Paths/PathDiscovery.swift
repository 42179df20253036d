import Wire
import WireGuard

/// Where one peer's WireGuard datagrams go now.
public enum PeerRoute: Equatable, Sendable {
    /// Straight over UDP to this endpoint (confirmed by a recent pong).
    case direct(IPEndpoint)
    /// Through the DERP relay of this region (the peer's home).
    case relay(region: Int)
    /// Nowhere: no confirmed endpoint, no home region and no netmap endpoint.
    case unreachable
}

/// How a disco packet arrived.
public enum DiscoArrival: Equatable, Sendable {
    /// Over UDP from this source.
    case udp(IPEndpoint)
    /// Through a relay of `region`, from the node key `source`.
    case relay(region: Int, source: PublicKey)
}

/// What path discovery asks the I/O layer to send.
public enum PathAction: Equatable, Sendable {
    /// A disco packet over UDP.
    case sendUDP([UInt8], to: IPEndpoint)
    /// A disco packet through `region`'s relay to the node key `peer`.
    case sendRelay([UInt8], to: PublicKey, region: Int)
}

/// A peer as path discovery needs it (from the netmap).
public struct PathPeer: Sendable, Equatable {
    public var nodeKey: PublicKey
    public var discoKey: PublicKey
    public var homeRegion: Int
    public var endpoints: [IPEndpoint]

    public init(nodeKey: PublicKey, discoKey: PublicKey, homeRegion: Int, endpoints: [IPEndpoint]) {
        self.nodeKey = nodeKey
        self.discoKey = discoKey
        self.homeRegion = homeRegion
        self.endpoints = endpoints
    }
}

/// Disco path discovery for all peers, sans-IO: which path each peer's datagrams take, the pings,
/// pongs and call-me-maybes that find and keep direct paths, and the fallback to the relay.
///
/// ```
///  relayed ──(peer active: ping every candidate, call-me-maybe via DERP)──▶ pong ──▶ direct(best latency)
///  direct  ──(heartbeat ping every 3 s; re-probe all every 60 s; lower latency by 20 %: switch)
///  direct  ──(no pong for 6.5 s)──▶ relayed (WireGuard's session continues over the relay)
/// ```
///
/// WireGuard never sees any of this: the engine asks ``route(to:now:)`` for each datagram.
public final class PathDiscovery {
    /// Drop counters (dropped and counted, never an error to the caller).
    public struct Counters: Sendable, Equatable {
        public var unknownSender = 0
        public var badBox = 0
        public var malformed = 0
        public var pingsSent = 0
        public var pongsReceived = 0
    }

    /// One peer's path for status output.
    public struct Status: Sendable, Equatable {
        public var route: PeerRoute
        /// Round trip of the direct path in use, or of the best candidate.
        public var latency: Duration?
    }

    private struct Candidate {
        var lastPing: NetInstant?
        var lastPong: NetInstant?
        var latency: Duration?
    }

    private final class PeerState {
        var peer: PathPeer
        let box: NaClBox?
        var candidates: [IPEndpoint: Candidate] = [:]
        var best: IPEndpoint?
        var lastActive: NetInstant?
        var lastFullProbe: NetInstant?
        var lastProbe: NetInstant?

        init(peer: PathPeer, box: NaClBox?) {
            self.peer = peer
            self.box = box
        }
    }

    private struct PendingPing {
        var peer: PublicKey  // node key
        var endpoint: IPEndpoint?  // nil: sent through the relay
        var sentAt: NetInstant
    }

    public private(set) var counters = Counters()
    private let discoKey: PrivateKey
    private let nodeKey: PublicKey
    private let timing: PathTiming
    private var peers: [PublicKey: PeerState] = [:]  // by node key
    private var byDisco: [PublicKey: PublicKey] = [:]  // disco key → node key
    private var byEndpoint: [IPEndpoint: PublicKey] = [:]  // candidate endpoint → node key
    private var pending: [DiscoTransactionID: PendingPing] = [:]
    private var random: UInt64
    /// This node's own endpoints, sent in call-me-maybe.
    public var localEndpoints: [IPEndpoint] = []

    /// - Parameters:
    ///   - discoKey: this node's disco private key.
    ///   - nodeKey: this node's WireGuard public key (sent in pings).
    ///   - seed: seeds transaction IDs (random; they need not be secret, only unpredictable enough
    ///     not to collide).
    public init(discoKey: PrivateKey, nodeKey: PublicKey, timing: PathTiming = PathTiming(), seed: UInt64) {
        self.discoKey = discoKey
        self.nodeKey = nodeKey
        self.timing = timing
        random = seed
    }

    // MARK: Peers

    /// Adds or updates a peer; its netmap endpoints become candidates (kept measurements survive).
    public func upsert(_ peer: PathPeer) {
        if let state = peers[peer.nodeKey], state.peer.discoKey == peer.discoKey {
            state.peer = peer
            for endpoint in peer.endpoints { addCandidate(endpoint, to: state) }
            return
        }
        remove(peer.nodeKey)
        let state = PeerState(peer: peer, box: NaClBox(privateKey: discoKey, peer: peer.discoKey))
        peers[peer.nodeKey] = state
        byDisco[peer.discoKey] = peer.nodeKey
        for endpoint in peer.endpoints { addCandidate(endpoint, to: state) }
    }

    public func remove(_ nodeKey: PublicKey) {
        guard let state = peers.removeValue(forKey: nodeKey) else { return }
        byDisco[state.peer.discoKey] = nil
        for endpoint in state.candidates.keys where byEndpoint[endpoint] == nodeKey { byEndpoint[endpoint] = nil }
    }

    /// The peer whose candidate endpoint `endpoint` is, if any (maps UDP sources to peers).
    public func peer(at endpoint: IPEndpoint) -> PublicKey? { byEndpoint[endpoint] }

    // MARK: Routing

    /// The path for a datagram to `peer` now; marks the peer active, so discovery runs for it.
    public func route(to peer: PublicKey, now: NetInstant) -> PeerRoute {
        guard let state = peers[peer] else { return .unreachable }
        state.lastActive = now
        return currentRoute(state, now: now)
    }

    /// The path and latency of `peer` without marking it active.
    public func status(of peer: PublicKey, now: NetInstant) -> Status? {
        guard let state = peers[peer] else { return nil }
        let route = currentRoute(state, now: now)
        let latency: Duration? = if case .direct(let endpoint) = route { state.candidates[endpoint]?.latency } else {
            state.candidates.values.compactMap(\.latency).min()
        }
        return Status(route: route, latency: latency)
    }

    private func currentRoute(_ state: PeerState, now: NetInstant) -> PeerRoute {
        if let best = state.best, let pong = state.candidates[best]?.lastPong, now.since(pong) < timing.trustDuration {
            return .direct(best)
        }
        if state.peer.homeRegion > 0 { return .relay(region: state.peer.homeRegion) }
        // No relay to fall back on (a flat network): the netmap's first endpoint, unconfirmed.
        return state.peer.endpoints.first.map { .direct($0) } ?? .unreachable
    }

    // MARK: Receiving

    /// Handles a disco packet; returns what to send in answer (a pong, pings after a call-me-maybe).
    public func receive(_ packet: UnsafeRawBufferPointer, via arrival: DiscoArrival, now: NetInstant) -> [PathAction] {
        let view: DiscoPacket
        do { view = try DiscoPacket(validating: packet) } catch {
            counters.malformed += 1
            return []
        }
        guard let nodeKey = byDisco[view.sender], let state = peers[nodeKey], let box = state.box else {
            counters.unknownSender += 1
            return []
        }
        let message: DiscoMessage
        do { message = try view.open(with: box) } catch {
            if error == .badBox { counters.badBox += 1 } else { counters.malformed += 1 }
            return []
        }
        switch message {
        case .ping(let id, _):
            switch arrival {
            case .udp(let source):
                addCandidate(source, to: state)
                return [.sendUDP(seal(.pong(id, source: source), for: state), to: source)]
            case .relay(let region, let source):
                // The observed "source" of a relayed ping is the relay: tailscale reports its magic
                // address 127.3.3.40:region (derp.go), which the peer does not use as a candidate.
                let magic = IPEndpoint(.v4(IPv4Address(127, 3, 3, 40)), UInt16(clamping: region))
                return [.sendRelay(seal(.pong(id, source: magic), for: state), to: source, region: region)]
            }
        case .pong(let id, _):
            guard let ping = pending.removeValue(forKey: id), ping.peer == nodeKey else { return [] }
            counters.pongsReceived += 1
            guard let endpoint = ping.endpoint, case .udp(let source) = arrival, source == endpoint else { return [] }
            var candidate = state.candidates[endpoint] ?? Candidate()
            candidate.lastPong = now
            candidate.latency = now.since(ping.sentAt)
            state.candidates[endpoint] = candidate
            choose(state, now: now)
            return []
        case .callMeMaybe(let endpoints):
            for endpoint in endpoints { addCandidate(endpoint, to: state) }
            // The peer is punching towards us: ping everything now (ignoring the interval).
            return probe(state, now: now, force: true)
        }
    }

    // MARK: Timers

    /// Pings that are due: all candidates of active peers without a direct path (with a
    /// call-me-maybe through the relay), the heartbeat of direct paths, the periodic upgrade probe.
    public func poll(now: NetInstant) -> [PathAction] {
        var actions: [PathAction] = []
        for state in peers.values {
            guard let active = state.lastActive, now.since(active) < timing.activeTimeout, state.box != nil else { continue }
            if let last = state.lastProbe, now.since(last) < step(state, now: now) { continue }
            state.lastProbe = now
            actions += probe(state, now: now, force: false)
        }
        expirePending(now: now)
        return actions
    }

    /// When ``poll(now:)`` next has work: the next probe of an active peer, or the moment a direct
    /// path loses its trust.
    public func nextDeadline(now: NetInstant) -> NetInstant? {
        var deadline: NetInstant?
        func consider(_ instant: NetInstant) { deadline = deadline.map { min($0, instant) } ?? instant }
        for state in peers.values {
            guard let active = state.lastActive, now.since(active) < timing.activeTimeout, state.box != nil else { continue }
            consider((state.lastProbe ?? now) + step(state, now: now))
            if let best = state.best, let pong = state.candidates[best]?.lastPong, pong + timing.trustDuration > now {
                consider(pong + timing.trustDuration)
            }
        }
        return deadline
    }

    // MARK: Internals

    /// Probe cadence: heartbeat on a direct path, the ping interval while relayed.
    private func step(_ state: PeerState, now: NetInstant) -> Duration {
        if case .direct = currentRoute(state, now: now) { return timing.heartbeatInterval }
        return timing.pingInterval
    }

    private func probe(_ state: PeerState, now: NetInstant, force: Bool) -> [PathAction] {
        var actions: [PathAction] = []
        let route = currentRoute(state, now: now)
        var targets: [IPEndpoint]
        if case .direct(let best) = route, !force,
           let last = state.lastFullProbe, now.since(last) < timing.upgradeInterval {
            targets = [best]
        } else {
            targets = Array(state.candidates.keys)
            state.lastFullProbe = now
        }
        targets.sort { $0.description < $1.description }  // a stable order, so runs replay
        for endpoint in targets { actions.append(ping(state, endpoint: endpoint, now: now)) }
        // Relayed: ask the peer to ping us too (its pings open our firewall or NAT towards it).
        if !force, case .relay(let region) = route, !localEndpoints.isEmpty {
            actions.append(.sendRelay(seal(.callMeMaybe(Array(localEndpoints.prefix(timing.maxCandidates))), for: state),
                                      to: state.peer.nodeKey, region: region))
        }
        return actions
    }

    private func ping(_ state: PeerState, endpoint: IPEndpoint, now: NetInstant) -> PathAction {
        let id = nextTransactionID()
        pending[id] = PendingPing(peer: state.peer.nodeKey, endpoint: endpoint, sentAt: now)
        state.candidates[endpoint, default: Candidate()].lastPing = now
        counters.pingsSent += 1
        return .sendUDP(seal(.ping(id, nodeKey: nodeKey), for: state), to: endpoint)
    }

    /// Picks the lowest-latency candidate with a trusted pong; keeps the current one unless the
    /// new one is clearly better or the current one lost its trust.
    private func choose(_ state: PeerState, now: NetInstant) {
        let trusted = state.candidates.filter { _, c in c.lastPong.map { now.since($0) < timing.trustDuration } ?? false }
        guard let (endpoint, candidate) = trusted.min(by: { ($0.value.latency ?? .seconds(3600)) < ($1.value.latency ?? .seconds(3600)) }) else { return }
        if let best = state.best, let current = trusted[best], let currentLatency = current.latency, let latency = candidate.latency,
           latency.nanosecondsForRatio >= currentLatency.nanosecondsForRatio * timing.switchThreshold {
            return
        }
        state.best = endpoint
    }

    private func addCandidate(_ endpoint: IPEndpoint, to state: PeerState) {
        guard state.candidates[endpoint] == nil else { return }
        guard state.candidates.count < timing.maxCandidates else { return }
        state.candidates[endpoint] = Candidate()
        byEndpoint[endpoint] = state.peer.nodeKey
    }

    private func expirePending(now: NetInstant) {
        guard pending.count > 0 else { return }
        pending = pending.filter { now.since($0.value.sentAt) < timing.pingTimeout }
    }

    private func seal(_ message: DiscoMessage, for state: PeerState) -> [UInt8] {
        guard let box = state.box else { return [] }
        return DiscoPacket.seal(message, from: discoKey.publicKey, with: box)
    }

    /// SplitMix64 over the seed.
    private func nextTransactionID() -> DiscoTransactionID {
        func next() -> UInt64 {
            random &+= 0x9E37_79B9_7F4A_7C15
            var z = random
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return DiscoTransactionID(high: next(), low: UInt32(truncatingIfNeeded: next()))
    }
}

extension Duration {
    fileprivate var nanosecondsForRatio: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    }
}
