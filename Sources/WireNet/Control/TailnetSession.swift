#if canImport(Glibc)
import Glibc
#endif
import Locking
import Logging
import Wire
import WireGuard

/// A node's membership in a tailnet: its keys, its control session, the peer table and the latest
/// policy, and the link from each netmap to the running engine.
///
/// Netmaps arrive on the helper's threads. The session folds each into the peer table under its lock,
/// then hands WireGuard's share of the change to the engine's loop with ``Engine/perform(_:)``, in
/// order. Before the engine runs, netmaps only fill the table; ``attach(_:)`` then installs all of it.
final class TailnetSession: Sendable {
    let configuration: TailnetConfiguration
    let keys: StateDirectoryKeys
    private let logger: Logger

    private struct State {
        var client: ControlClient?
        var table = TailnetPeerTable()
        var selfNode: TailnetSelf?
        var domain: String?
        var rules: [FilterRule] = []
        var derpMap: DERPMap?
        var controlState: ControlState = .registering
        var controlMessage = ""
        var engine: Engine?
        /// `start()` waiting for the first netmap (or a refusal).
        var firstNetmapWaiter: CheckedContinuation<Void, any Error>?
        var sawNetmap = false
        var terminalError: NodeError?
        var netmapsApplied = 0
    }

    private let state = Lock(State())

    init(configuration: TailnetConfiguration, keys: StateDirectoryKeys, logger: Logger) {
        self.configuration = configuration
        self.keys = keys
        self.logger = logger
    }

    // MARK: Login

    /// Starts the control session and waits for the first netmap.
    /// - Throws: ``NodeError/loginRefused(_:)`` with control's message, ``NodeError/timedOut`` when no
    ///   netmap arrives within the login timeout.
    func login(library: ControlHelperLibrary) async throws {
        let node = keys.node.publicKey
        let disco = keys.disco.publicKey.key
        let client = try ControlClient(
            library: library,
            configuration: .init(
                controlURL: configuration.controlURL, authKey: configuration.authKey, hostname: configuration.hostname,
                stateDir: configuration.stateDirectory, ephemeral: configuration.ephemeral,
                nodeKey: KeyText.format(node.key, prefix: KeyText.nodePublic),
                discoKey: KeyText.format(disco, prefix: KeyText.discoPublic), endpoints: []),
            onEvent: { [weak self] event, decodeTime in self?.handle(event, decodeTime: decodeTime) },
            onMalformed: { [logger] error in logger.warning("control helper sent a malformed event", metadata: ["error": "\(error)"]) })
        state.withLock { $0.client = client }
        let timeout = configuration.loginTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.waitForFirstNetmap() }
            group.addTask {
                try await Task.sleep(for: timeout)
                self.failWaiter(.timedOutWaitingForControl(timeout))
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Waits for the first netmap or the login's failure. Cancelling the task ends the wait with
    /// ``NodeError/cancelled`` (before it parks or while it waits), so that `login`'s task group
    /// can finish: a wait that ignored cancellation kept a cancelled `start()` waiting for ever.
    private func waitForFirstNetmap() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, NodeError>? in
                    if let error = state.terminalError { return .failure(error) }
                    if state.sawNetmap { return .success(()) }
                    state.firstNetmapWaiter = continuation
                    return nil
                }
                switch outcome {
                case .success?: continuation.resume()
                case .failure(let error)?: continuation.resume(throwing: error)
                case nil: break
                }
            }
        } onCancel: {
            failWaiter(.cancelled)
        }
    }

    private func failWaiter(_ error: NodeError) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.terminalError == nil, !state.sawNetmap { state.terminalError = error }
            defer { state.firstNetmapWaiter = nil }
            return state.firstNetmapWaiter
        }
        waiter?.resume(throwing: error)
    }

    // MARK: Events

    private func handle(_ event: ControlEvent, decodeTime: Duration) {
        switch event {
        case .netmap(let update):
            apply(update, decodeTime: decodeTime)
        case .state(let controlState, let message, let retry):
            state.withLock { $0.controlState = controlState; $0.controlMessage = message }
            switch controlState {
            case .refused:
                logger.error("control refused the node", metadata: ["message": "\(message)"])
                failWaiter(.loginRefused(message))
            case .reconnecting:
                logger.warning("control unreachable; keeping the current netmap", metadata: [
                    "message": "\(message)", "retryIn": "\(retry.map { "\($0)" } ?? "?")"])
            default:
                logger.info("control state", metadata: ["state": "\(controlState)", "message": "\(message)"])
            }
        case .log(let line):
            logger.debug("control helper", metadata: ["line": "\(line)"])
        }
    }

    /// Folds a netmap into the table and hands WireGuard's share to the engine.
    func apply(_ update: NetmapUpdate, decodeTime: Duration = .zero) {
        let started = ContinuousClock.now
        for reason in update.rejected { logger.warning("netmap entry left out", metadata: ["reason": "\(reason)"]) }
        let (changes, rules, derpMap, engine, waiter) = state.withLock { state in
            let changes = state.table.apply(update)
            if let node = update.selfNode { state.selfNode = node }
            if let domain = update.domain { state.domain = domain }
            if let filter = update.packetFilter { state.rules = filter }
            if let derp = update.derpMap { state.derpMap = derp }
            state.netmapsApplied += 1
            var waiter: CheckedContinuation<Void, any Error>?
            if !state.sawNetmap, state.selfNode != nil {
                state.sawNetmap = true
                waiter = state.firstNetmapWaiter
                state.firstNetmapWaiter = nil
            }
            return (changes, update.packetFilter, update.derpMap, state.engine, waiter)
        }
        if let engine {
            let logger = logger
            engine.perform { engine in
                let started = ContinuousClock.now
                if let derpMap { engine.paths?.setDERPMap(derpMap, now: engine.clock.now()) }
                Self.applyToDevice(changes, engine: engine, logger: logger)
                if let rules { engine.packetFilter?.replaceRules(rules) }
                Self.logApplied(changes.upserts.count + changes.removals.count, since: started, logger: logger)
            }
        }
        let level: Logger.Level = update.peers.count + update.removed.count >= 100 ? .info : .debug
        logger.log(level: level, "netmap", metadata: [
            "full": "\(update.isFull)", "peers": "\(update.peers.count)", "removed": "\(update.removed.count)",
            "wireguardChanges": "\(changes.upserts.count + changes.removals.count)",
            "decodeMilliseconds": "\(Self.milliseconds(decodeTime))",
            "foldMilliseconds": "\(Self.milliseconds(ContinuousClock.now - started))"])
        waiter?.resume()
        // Decoding a large full map leaves many megabytes of freed heap behind; give it back.
        if update.isFull, update.peers.count >= Self.trimAfterPeers { HeapTrim.releaseFreedMemory() }
    }

    /// Full maps at least this large are followed by `malloc_trim` (implementation choice).
    static let trimAfterPeers = 1000

    /// Carries a netmap's changes into WireGuard; runs on the loop thread. Peers are installed in
    /// WireGuard lazily (see ``activate(routing:in:)``), so only installed ones are updated or
    /// removed here; every peer's disco key is kept for answering pings. Established sessions survive
    /// an update: `addPeer` on an existing key keeps its keypairs.
    private static func applyToDevice(_ changes: TailnetPeerTable.Changes, engine: Engine, logger: Logger) {
        for old in changes.removals {
            if engine.device.status(of: old.nodeKey) != nil { try? engine.device.removePeer(old.nodeKey) }
            engine.paths?.remove(id: old.id)
        }
        for (peer, old) in changes.upserts {
            // Every peer's path state (disco key, home region, endpoints) is kept, installed or not,
            // so that its disco pings are answered and relayed packets find it.
            engine.paths?.upsert(id: peer.id, nodeKey: peer.nodeKey, discoKey: peer.discoKey, homeDERP: peer.homeDERP,
                                 endpoints: peer.endpoints)
            guard engine.device.status(of: peer.nodeKey) != nil else { continue }  // not installed: nothing to update
            // Re-inserting allowed IPs rebuilds WireGuard's routing trie: only when they changed.
            if old?.allowedIPs != peer.allowedIPs {
                try? engine.device.addPeer(PeerConfiguration(publicKey: peer.nodeKey, endpoint: nil, allowedIPs: peer.allowedIPs))
            }
            let endpoint = PeerPathChoice.endpoint(for: peer)
            if let endpoint, old.map({ PeerPathChoice.endpoint(for: $0) != endpoint }) ?? true {
                try? engine.device.setEndpoint(endpoint, of: peer.nodeKey)
            }
        }
    }

    // MARK: Lazy WireGuard peers

    /// Installs the peer whose allowed IPs contain `address` in WireGuard, when the netmap has one
    /// that is not installed yet. Runs on the loop thread; true when a peer was added.
    ///
    /// WireGuard holds only the peers this node talks to (as tailscale's engine trims idle peers):
    /// a large tailnet costs a netmap record per peer, not a WireGuard peer with its handshake state.
    /// A peer is installed when a packet goes to one of its addresses, when a handshake initiation
    /// arrives from one of its endpoints, or when it sends a disco ping.
    func activate(routing address: IPAddress, in engine: Engine) -> Bool {
        install(state.withLock { $0.table.peer(routing: address) }, in: engine)
    }

    /// Installs the peer that listed `endpoint` (an inbound handshake initiation came from it).
    func activate(at endpoint: IPEndpoint, in engine: Engine) -> Bool {
        install(state.withLock { $0.table.peer(at: endpoint) }, in: engine)
    }

    /// Installs the peer with node id `id` (it sent a disco ping).
    func activate(id: Int64, in engine: Engine) -> Bool {
        install(state.withLock { $0.table.peer(id: id) }, in: engine)
    }

    private func install(_ peer: TailnetPeer?, in engine: Engine) -> Bool {
        guard let peer, !peer.expired, engine.device.status(of: peer.nodeKey) == nil else { return false }
        do {
            try engine.device.addPeer(PeerConfiguration(publicKey: peer.nodeKey, endpoint: PeerPathChoice.endpoint(for: peer),
                                                        allowedIPs: peer.allowedIPs))
            logger.debug("peer installed in WireGuard", metadata: ["peer": "\(peer.name)"])
            return true
        } catch {
            logger.warning("peer cannot be installed in WireGuard", metadata: ["peer": "\(peer.name)", "error": "\(error)"])
            return false
        }
    }

    // MARK: Engine

    /// The addresses control gave this node (empty before the first netmap).
    var addresses: [IPPrefix] { state.withLock { $0.selfNode?.addresses ?? [] } }

    /// Connects the running engine: installs every known peer and the policy, starts handshakes
    /// with peers control sees online (a restarted node must not wait for their stale sessions to
    /// time out), and reports this node's endpoints to control.
    func attach(_ engine: Engine) {
        let logger = logger
        let localEndpoints = LocalEndpoints.list(port: engine.localPort)
        // Under the lock, so that every later netmap's engine work queues behind this one.
        let (client, derpMap) = state.withLock { state -> (ControlClient?, DERPMap?) in
            state.engine = engine
            let peers = Array(state.table.peers.values)
            let rules = state.rules
            let derpMap = state.derpMap
            engine.perform { [keys] engine in
                let started = ContinuousClock.now
                let now = engine.clock.now()
                engine.packetFilter = PacketFilter(rules: rules)
                engine.paths = PeerPaths(nodeKey: keys.node, discoKey: keys.disco,
                                         plainHTTPForTestRelays: Self.plainHTTPForTestRelays, localEndpoints: localEndpoints,
                                         seed: UInt64(bitPattern: now.nanoseconds))
                if let derpMap { engine.paths?.setDERPMap(derpMap, now: now) }
                engine.tailnet = self
                var changes = TailnetPeerTable.Changes()
                changes.upserts = peers.map { ($0, nil) }
                Self.applyToDevice(changes, engine: engine, logger: logger)
                // A restarted node greets the peers control sees online at once, so that a peer still
                // holding a session with the old instance does not wait for it to time out.
                for peer in peers.lazy.filter({ $0.online == true }).prefix(Self.initialHandshakeLimit)
                where self.install(peer, in: engine) {
                    try? engine.device.initiateHandshake(with: peer.nodeKey, now: now)
                }
                Self.logApplied(peers.count, since: started, logger: logger)
            }
            return (state.client, derpMap)
        }
        let endpoints = localEndpoints.map(\.description)
        let disco = keys.disco.publicKey.key
        // The home DERP region goes to control, which gives it to peers as this node's HomeDERP.
        client?.update(endpoints: endpoints, discoKey: KeyText.format(disco, prefix: KeyText.discoPublic),
                       preferredDERP: derpMap.flatMap(PeerPaths.homeRegion(in:)))
        logger.info("tailnet endpoints reported", metadata: ["endpoints": "\(endpoints.joined(separator: ","))"])
    }

    /// Logs how long WireGuard took to take a netmap's changes (the scale figures in perf/ read it).
    private static func logApplied(_ changes: Int, since started: ContinuousClock.Instant, logger: Logger) {
        logger.log(level: changes >= 100 ? .info : .debug, "netmap applied", metadata: [
            "wireguardChanges": "\(changes)", "milliseconds": "\(milliseconds(ContinuousClock.now - started))"])
    }

    private static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    /// `WIRENET_DERP_PLAIN_HTTP=1`: reach relays marked `InsecureForTests` over plain HTTP instead
    /// of TLS (as tailscale's `TS_DEBUG_USE_DERP_HTTP`); other relays always get verified TLS.
    static var plainHTTPForTestRelays: Bool {
        guard let value = getenv("WIRENET_DERP_PLAIN_HTTP") else { return false }
        return String(cString: value) == "1"
    }

    /// Peers handshaken with at once when the node starts (bounded: a large tailnet is mostly idle).
    static let initialHandshakeLimit = 256

    // MARK: Queries

    /// The address a peer's name resolves to.
    func resolve(_ name: String) -> IPAddress? { state.withLock { $0.table.resolve(name) } }

    struct Snapshot {
        var selfNode: TailnetSelf?
        var peers: [TailnetPeer]
        var controlState: ControlState
        var controlMessage: String
        var derpMap: DERPMap?
    }

    func snapshot() -> Snapshot {
        state.withLock { state in
            Snapshot(selfNode: state.selfNode, peers: Array(state.table.peers.values), controlState: state.controlState,
                     controlMessage: state.controlMessage, derpMap: state.derpMap)
        }
    }

    // MARK: Shutdown

    /// Logs out (ephemeral nodes, or when asked), then stops the control session. Blocks on the
    /// helper: call off the cooperative pool. Idempotent.
    func shutdown(logout: Bool) {
        let client = state.withLock { state -> ControlClient? in
            defer { state.client = nil; state.engine = nil }
            return state.client
        }
        guard let client else { return }
        if logout {
            do {
                try client.logout(timeout: .seconds(5))
                logger.info("logged out of the tailnet")
            } catch {
                logger.warning("logout failed", metadata: ["error": "\(error)"])
            }
        }
        client.stop()
        failWaiter(.closed)
    }
}
