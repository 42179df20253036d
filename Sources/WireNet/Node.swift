#if canImport(Glibc)
import Glibc
#endif
import Locking
import Logging
import NetStack
import ServiceLifecycle
import UDPTransport
import Wire
import WireGuard

/// A node of a WireGuard network, inside this process: its own UDP socket, WireGuard, and a userspace
/// TCP/IP stack. No TUN device, no root, no daemon.
///
/// ```swift
/// let node = Node(configuration: try NodeConfiguration(contentsOfFile: "wg0.conf"))
/// try await node.start()
/// let listener = try await node.listen(tcp: 8080)
/// for try await stream in listener {
///     Task { while let chunk = try await stream.read() { try await stream.write(chunk) } }
/// }
/// ```
///
/// A node is a swift-service-lifecycle `Service`: ``run()`` starts it (if needed) and closes it on
/// graceful shutdown or cancellation.
public final class Node: Service, Sendable {
    /// Settings beyond the WireGuard configuration.
    public struct Options: Sendable {
        /// The UDP I/O path: io_uring when the kernel allows it (the default), or `recvmmsg`/`sendmmsg`.
        public var transportBackend: TransportBackend = .automatic
        /// UDP segmentation offload for runs of equal-size datagrams; off works around kernel GSO bugs.
        public var segmentationOffload = true
        /// UDP receive coalescing; off works around kernel GRO bugs.
        public var receiveCoalescing = true
        /// TCP settings of the userspace stack (buffer sizes, timeouts, keepalive, TIME-WAIT).
        public var tcp = TCPConfiguration()
        /// Bytes the TCP send and receive buffers of all the node's connections may hold together.
        /// Buffers take memory only while they hold data; at this total, receive windows shrink and
        /// writes wait until data is read or acknowledged (`tcp` sets the per-connection limits).
        public var tcpBufferMemoryLimit = IPStackConfiguration(addresses: []).tcpBufferMemoryLimit
        /// TCP connections one remote tunnel address may hold through its SYNs to the node's
        /// listeners, all listeners and states (TIME-WAIT included) together, so that one peer cannot
        /// take the whole connection table (16384); SYNs beyond it are dropped and counted in
        /// ``NodeStatus/TCPListenerCounters/perAddressLimitDrops``. Connections the node dials are not
        /// counted. Must be at least 1; the default, 4096, lets four such peers fill the table.
        public var maximumConnectionsPerRemoteAddress = IPStackConfiguration(addresses: []).maximumConnectionsPerRemoteAddress
        /// What carries the tunnel's IP packets: the userspace stack (default) or a kernel TUN device.
        public var packetPath = PacketPath.userspace
        /// The control helper library for tailnet nodes; nil searches `$WIRENET_CONTROL_HELPER`, the
        /// executable's directory and `/usr/local/lib` for `libwirenetcontrol.so`.
        public var controlHelperPath: String?
        /// Seeds the non-secret random choices (WireGuard's retransmission jitter and session
        /// indices; the stack's initial sequence numbers, ephemeral ports and timestamp offsets) so
        /// that a test run replays; `nil` (the default) draws from the system. Never set it in
        /// production: predictable sequence numbers and ports help off-path attackers. Keys always
        /// come from the system's cryptographic generator.
        public var randomSeed: UInt64? = nil
        /// A tracing hook: called with each WireGuard event as it happens — a session began after a
        /// handshake (which peer, which side initiated), a datagram or packet was dropped (why, and
        /// from which peer when known). It runs on the node's loop thread, so it must return quickly
        /// and must not wait for the node (hand events to a queue or a logger). nil (the default)
        /// costs one check where an event would be reported; counters in ``Node/status()`` and the
        /// metrics are kept either way.
        public var trace: (@Sendable (DeviceTraceEvent) -> Void)? = nil
        /// The clock the engine reads (tests replace it).
        var clock = EngineClock.system
        /// Threads that encrypt and decrypt transport messages, the engine's own thread included
        /// (1...256; static configurations only — a tailnet node encrypts on its engine thread). Each
        /// peer's packets stay in order whatever the count. nil: 1, for now — on the 2-vCPU machines
        /// measured so far a second thread did not pay (0.81× in perf/results/2026-12-01T0135Z-crypto.jsonl)
        /// and its spinning helpers starve other nodes in the same process; try one per core
        /// (``CryptoWorkers/defaultThreadCount``) where cores are free.
        public var cryptoThreads: Int? = nil

        public init() {}
    }

    /// Where the IP packets inside the tunnel go.
    public enum PacketPath: Sendable, Equatable {
        /// WireNet's own TCP/IP stack in this process: no privileges; use the node's sockets API.
        case userspace
        /// A kernel TUN interface named `name`, served by the host's TCP/IP stack (root or
        /// CAP_NET_ADMIN). With `configure`, the node sets its addresses and MTU and brings it up;
        /// without, the caller does (e.g. after moving it to another network namespace). The node's
        /// sockets API is unavailable: programs use the host's sockets.
        case kernelTUN(name: String, configure: Bool = true)
    }

    private enum State {
        case idle
        case running(Engine, UserspaceStack?)
        case closed
    }

    /// The configuration the node was created with (peers added later are not reflected here).
    public let configuration: NodeConfiguration
    public let options: Options
    let logger: Logger
    private let state = Lock(State.idle)
    /// The tailnet membership of a node made with ``init(tailnet:options:logger:)``; nil otherwise.
    let tailnet: TailnetSession?

    /// Creates a node; nothing happens until ``start()``.
    ///
    /// - Parameter logger: where the node reports (handshakes, peers, failures). By default it is
    ///   silent, as server libraries are: pass your application's logger to see it.
    public init(configuration: NodeConfiguration, options: Options = Options(), logger: Logger = Node.silentLogger) {
        self.configuration = configuration
        self.options = options
        self.logger = logger
        tailnet = nil
    }

    /// Creates a node that joins a tailnet: loads (or creates) its keys in the state directory now;
    /// ``start()`` logs in and applies the netmap. ``configuration`` holds the node's key; its
    /// addresses and peers come from control (see ``status()``).
    ///
    /// - Throws: ``NodeError/configuration(_:)`` for an unusable configuration or key file,
    ///   ``NodeError/system(operation:errno:)`` when the state directory cannot be written.
    public init(tailnet: TailnetConfiguration, options: Options = Options(), logger: Logger = Logger(label: "wirenet")) throws(NodeError) {
        do { try tailnet.validate() } catch { throw NodeError.configuration(error) }
        let keys = try StateDirectoryKeys.loadOrCreate(in: tailnet.stateDirectory)
        configuration = NodeConfiguration(privateKey: keys.node, addresses: [], listenPort: tailnet.listenPort, mtu: tailnet.mtu)
        self.options = options
        self.logger = logger
        self.tailnet = TailnetSession(configuration: tailnet, keys: keys, logger: logger)
    }

    /// A logger with no output: the default of ``init(configuration:options:logger:)``.
    public static var silentLogger: Logger { Logger(label: "wirenet", factory: { _ in SwiftLogNoOpLogHandler() }) }

    /// The node's WireGuard public key.
    public var publicKey: PublicKey { configuration.privateKey.publicKey }

    /// Opens the UDP socket, configures WireGuard with the peers, and starts the engine.
    ///
    /// - Throws: ``NodeError/configuration(_:)`` for an unusable configuration,
    ///   ``NodeError/portInUse(_:)`` when the listen port is taken, ``NodeError/unresolvableHost(_:)``
    ///   for a peer endpoint that does not resolve, ``NodeError/alreadyStarted`` or
    ///   ``NodeError/closed``; for a tailnet node also the login's errors, and ``NodeError/cancelled``
    ///   when the task is cancelled during the login. Nothing is left running when it throws.
    public func start() async throws(NodeError) {
        try state.withLock { state throws(NodeError) in
            switch state {
            case .idle: break
            case .running: throw .alreadyStarted
            case .closed: throw .closed
            }
        }
        if let tailnet {
            try await startTailnet(tailnet)
            return
        }
        do {
            try configuration.validate()
        } catch {
            throw NodeError.configuration(error)
        }
        // Host names resolve before anything starts, off the cooperative pool.
        var peers: [PeerConfiguration] = []
        for peer in configuration.peers { peers.append(try await PeerConfiguration(resolving: peer)) }
        try launch(configuration, peers: peers)
    }

    /// Builds WireGuard (with `peers`, the configuration's peers with their endpoints resolved), the
    /// packet backend and the engine for `configuration`, and starts the loop.
    @discardableResult
    func launch(_ configuration: NodeConfiguration, peers: [PeerConfiguration] = []) throws(NodeError) -> Engine {
        let clock = options.clock
        let device = WireGuardDevice(configuration: DeviceConfiguration(
            privateKey: configuration.privateKey, mtu: configuration.mtu, wallClock: clock.wallClockAnchor(),
            random: RandomSource(seed: options.randomSeed)))
        device.trace = options.trace
        for peer in peers {
            do { try device.addPeer(peer) } catch { throw NodeError.unusablePeerKey(peer.publicKey) }
        }
        let backend: PacketBackend
        var stack: UserspaceStack?
        switch options.packetPath {
        case .userspace:
            var stackConfiguration = IPStackConfiguration(addresses: configuration.addresses.map(\.address))
            stackConfiguration.mtu = configuration.mtu
            stackConfiguration.tcp = options.tcp
            stackConfiguration.tcpBufferMemoryLimit = options.tcpBufferMemoryLimit
            stackConfiguration.maximumConnectionsPerRemoteAddress = max(1, options.maximumConnectionsPerRemoteAddress)
            // A different stream from WireGuard's, so the two do not mirror each other.
            stackConfiguration.randomSeed = options.randomSeed.map { $0 ^ 0x5EED_57AC_0000_0000 }
            stack = UserspaceStack(configuration: stackConfiguration, clock: clock)
            backend = stack!
        case .kernelTUN(let name, let configure):
            backend = try KernelTUN(name: name, mtu: configuration.mtu, addresses: configuration.addresses, configure: configure)
        }

        var transport = UDPTransport.Configuration(
            port: configuration.listenPort ?? 0, backend: options.transportBackend,
            gso: options.segmentationOffload, gro: options.receiveCoalescing)
        transport.sendBufferSize = configuration.mtu + 64
        var settings = Engine.Settings(mtu: configuration.mtu, transport: transport)
        if let threads = options.cryptoThreads {
            guard (1...256).contains(threads) else {
                backend.close()
                throw NodeError.notAvailable("Node.Options.cryptoThreads must be between 1 and 256, not \(threads)")
            }
            settings.cryptoThreads = threads
        }
        let engine: Engine
        do {
            settings.clock = clock
            engine = try Engine(device: device, backend: backend, settings: settings, logger: logger)
        } catch {
            backend.close()
            throw error
        }
        let installed = state.withLock { state -> Bool in
            guard case .idle = state else { return false }
            state = .running(engine, stack)
            return true
        }
        guard installed else {
            engine.stop()
            throw NodeError.alreadyStarted
        }
        do {
            try engine.start()
        } catch {
            state.withLock { $0 = .closed }
            engine.stop()
            throw error
        }
        logger.info("node up", metadata: [
            "publicKey": "\(publicKey)", "port": "\(engine.localPort)",
            "addresses": "\(configuration.addresses.map(\.description).joined(separator: ","))",
            "transport": "\(engine.transport.backend)", "peers": "\(configuration.peers.count)",
            "packetPath": "\(options.packetPath)",
        ])
        return engine
    }

    /// Stops the engine: open streams and listeners fail with ``NodeError/closed``, the UDP socket and
    /// every buffer are released. Calling it again does nothing.
    ///
    /// `async`, unlike the sockets' synchronous `close()`: it returns only once the loop thread has
    /// ended (and a tailnet node has logged out when it is ephemeral), so that a caller can rely on
    /// the port and the memory being free. Sockets only hand their close to the loop thread.
    public func close() async {
        if let tailnet { await tailnet.shutdownOffPool(logout: tailnet.configuration.ephemeral) }
        let engine = state.withLock { state -> Engine? in
            defer { state = .closed }
            if case .running(let engine, _) = state { return engine }
            return nil
        }
        guard let engine else { return }
        // Joining the loop thread blocks briefly; keep it off the cooperative pool.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = try? LoopThread(name: "wirenet-close") {
                engine.stop()
                continuation.resume()
            }
            if let thread { thread.detach() } else { engine.stop(); continuation.resume() }
        }
        logger.info("node closed")
    }

    /// `Service`: starts the node if it is not running, then runs until graceful shutdown or
    /// cancellation, and closes it.
    public func run() async throws {
        if case .idle = state.withLock({ $0 }) {
            do {
                try await start()
            } catch {
                // A cancelled login is a cancellation to the service group.
                if error == .cancelled { throw CancellationError() }
                throw error
            }
        }
        // Returns on graceful shutdown, throws CancellationError on cancellation: close either way.
        try? await gracefulShutdown()
        await close()
    }

    /// The error that stopped the node on its own (its UDP socket failed), or nil while it runs
    /// normally, before it starts and after ``close()``. Once set, every call on the node throws it;
    /// the node still needs ``close()``.
    public var failure: NodeError? {
        guard case .running(let engine, _) = state.withLock({ $0 }) else { return nil }
        return engine.failure
    }

    /// Waits until the node stops: returns the error if it stopped on its own (see ``failure``),
    /// nil after ``close()`` (or at once when the node is not running).
    public func waitUntilStopped() async -> NodeError? {
        guard case .running(let engine, _) = state.withLock({ $0 }) else { return nil }
        return await engine.waitUntilEnded()
    }

    /// The running engine, or the error a call on a node that is not running gets.
    func runningEngine() throws(NodeError) -> (Engine, UserspaceStack?) {
        try state.withLock { state throws(NodeError) in
            switch state {
            case .idle: throw .notStarted
            case .running(let engine, let stack):
                if let failure = engine.failure { throw failure }
                return (engine, stack)
            case .closed: throw .closed
            }
        }
    }

    /// The running engine and userspace stack, for the sockets API.
    func running() throws(NodeError) -> (Engine, UserspaceStack) {
        let (engine, stack) = try runningEngine()
        guard let stack else {
            throw .notAvailable("the node's sockets need the userspace packet path; with a kernel TUN device use the host's sockets")
        }
        return (engine, stack)
    }

    // MARK: Peers

    /// Adds a peer, or updates an existing one's settings, while running.
    public func addPeer(_ peer: NodeConfiguration.Peer) async throws(NodeError) {
        let (engine, _) = try runningEngine()
        let configuration = try await PeerConfiguration(resolving: peer)
        let error = try await engine.query { engine -> NodeError? in
            do { try engine.device.addPeer(configuration); return nil } catch {
                return .unusablePeerKey(peer.publicKey)
            }
        }
        if let error { throw error }
    }

    /// Removes a peer and erases its session keys.
    public func removePeer(_ publicKey: PublicKey) async throws(NodeError) {
        let (engine, _) = try runningEngine()
        let removed = try await engine.query { engine in (try? engine.device.removePeer(publicKey)) != nil }
        if !removed { throw .unknownPeer(publicKey) }
    }

    // MARK: Status

    /// A snapshot of the node: its keys and addresses, and per peer the endpoint, last handshake and traffic.
    public func status() async throws(NodeError) -> NodeStatus {
        let (engine, stack) = try runningEngine()
        let configuration = configuration
        let tailnetView = tailnet?.snapshot()
        var status = try await engine.query { engine in
            let now = engine.clock.now()
            let peers = engine.device.peerKeys.compactMap { engine.device.status(of: $0) }.map { status in
                NodeStatus.Peer(
                    publicKey: status.publicKey,
                    endpoint: status.endpoint?.description,
                    lastHandshakeAge: status.lastHandshake.map { now.since($0) },
                    receivedBytes: status.receivedBytes, sentBytes: status.sentBytes,
                    droppedPackets: status.drops.total)
            }.map { peer -> NodeStatus.Peer in
                var peer = peer
                if let path = engine.paths?.pathStatus(of: peer.publicKey, now: now) {
                    peer.path = path
                    peer.endpoint = path.kind == .direct ? path.endpoint : path.region.map { "derp region \($0)" }
                }
                if let device = engine.device.status(of: peer.publicKey) {
                    peer.droppedPacketsByReason = Dictionary(uniqueKeysWithValues: device.drops.nonZero.map { reason, count in
                        // The case name (`replayedCounter`), a stable metric label unlike the description.
                        (String(String(reflecting: reason).split(separator: ".").last ?? ""), count)
                    })
                    peer.handshakesCompleted = device.handshakesCompleted
                    peer.receivedPackets = device.receivedPackets
                    peer.sentPackets = device.sentPackets
                }
                return peer
            }.sorted { $0.publicKey.description < $1.publicKey.description }
            var status = NodeStatus(
                publicKey: configuration.privateKey.publicKey, addresses: configuration.addresses,
                listenPort: engine.localPort, transport: "\(engine.transport.backend)",
                tcpConnections: stack?.stack.connectionCount ?? 0, peers: peers)
            status.tcpConnectionsByState = Dictionary(uniqueKeysWithValues: (stack?.stack.connectionsByState ?? [:]).map { ($0.key.rawValue, $0.value) })
            if let counts = stack?.stack.tcpRetransmissions {
                status.tcpRetransmissions.timeout = UInt64(counts.timeout)
                status.tcpRetransmissions.fastRetransmit = UInt64(counts.fastRetransmit)
                status.tcpRetransmissions.lossRecovery = UInt64(counts.lossRecovery)
                status.tcpRetransmissions.tailLossProbe = UInt64(counts.tailLossProbe)
                status.tcpRetransmissions.retransmissionTimeouts = UInt64(counts.retransmissionTimeouts)
                status.tcpRetransmissions.fastRecoveries = UInt64(counts.fastRecoveries)
            }
            status.filteredPackets = engine.packetFilter?.drops.total ?? 0
            status.engineBusyTime = engine.load.busy
            status.engineLoopTurns = engine.load.turns
            if let counters = stack?.stack.counters {
                status.tcpListenerCounters = NodeStatus.TCPListenerCounters(counters)
            }
            return status
        }
        if let tailnetView { status.merge(tailnetView) }
        return status
    }
}

extension NodeStatus.TCPListenerCounters {
    /// The listener counters among the stack's.
    init(_ counters: IPStackCounters) {
        self.init()
        synCookiesSent = UInt64(counters.tcpSynCookiesSent)
        synCookiesValidated = UInt64(counters.tcpSynCookiesValidated)
        synCookiesRejected = UInt64(counters.tcpSynCookiesRejected)
        synQueueEvictions = UInt64(counters.tcpSynQueueEvictions)
        backlogDrops = UInt64(counters.tcpBacklogDrops)
        perAddressLimitDrops = UInt64(counters.tcpPerAddressLimitDrops)
        acceptQueueOverflows = UInt64(counters.tcpAcceptQueueOverflows)
    }
}
