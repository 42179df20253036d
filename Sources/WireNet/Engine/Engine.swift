#if canImport(Glibc)
import Glibc
#endif
import CWireNetShims
import Locking
import Logging
import Relay
import Synchronization
import UDPTransport
import Wire
import WireGuard

/// The data plane of a node: one loop thread that owns the UDP transport, the WireGuard device and
/// the packet backend, and moves packets between them in batches.
///
/// ```
///  receive batch ──▶ WireGuard.receive (decrypt in place) ──▶ backend.deliver
///  backend.nextOutbound ──▶ WireGuard.send (encrypt in place, in a send buffer) ──▶ send batch
///  WireGuard.poll (handshakes, keepalives, staged packets) ──▶ send batch ──▶ one submit
/// ```
///
/// Nothing else touches that state: other threads hand the loop closures with ``perform(_:)``,
/// which run between batches, and wake it through the transport's waker. No locks on the hot path.
final class Engine: @unchecked Sendable {
    struct Settings {
        var mtu: Int
        var transport: UDPTransport.Configuration
        var clock = EngineClock.system
        /// Threads that seal and open, this loop's included (``CryptoWorkers``).
        var cryptoThreads = 1  // see Node.Options.cryptoThreads
    }

    /// Work handed to the loop from other threads. `nil` once the loop has stopped for good.
    private struct Inbox {
        var work: [@Sendable (Engine) -> Void] = []
        var accepting = true
    }

    let device: WireGuardDevice
    let transport: UDPTransport
    let backend: PacketBackend
    let logger: Logger
    let mtu: Int
    /// The clock the loop reads for every `now` it hands the cores.
    let clock: EngineClock
    let crypto: CryptoWorkers
    let pending = PendingDatagrams(capacity: Engine.cryptoBatchCapacity)
    private let inbox = Lock(Inbox())
    /// The work of the current turn, swapped out of the inbox. Loop thread only.
    private var runnable: [@Sendable (Engine) -> Void] = []
    /// Set by ``perform(_:wakeIf:)`` once work is queued, cleared when the loop takes the queue; the
    /// loop reads it just before it waits, so work queued without a wake-up is never left behind.
    private let workQueued = Atomic<Bool>(false)
    /// Set by the loop just before it decides how long to wait, cleared when the wait is over: only
    /// a parked loop needs the waker. Work queued while the loop runs is seen by its check of
    /// `workQueued` (both sequentially consistent: either the caller sees the loop parked and wakes
    /// it, or the loop sees the work and does not wait).
    private let parked = Atomic<Bool>(false)
    /// Set by the caller that writes the waker for the loop's current wait, so the callers after it
    /// do not write it again; cleared when the wait is over.
    private let wakePending = Atomic<Bool>(false)
    /// Times a caller wrote the waker (each a system call and, on a parked loop, a loop turn).
    private let wakeUps = Atomic<UInt64>(0)
    private let stopRequested = Atomic<Bool>(false)

    /// Whether the loop has ended, why, and who waits for it.
    private struct Ending {
        var ended = false
        /// Set when the loop stopped on its own (the transport failed), not by ``stop()``.
        var failure: NodeError?
        var waiters: [UInt64: CheckedContinuation<NodeError?, Never>] = [:]
        var cancelledWaiters: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
    }
    private let ending = Lock(Ending())
    /// How hard the loop works: time spent in turns (not waiting) and turns taken, on the engine's
    /// clock; loop-thread state, read through ``query(_:)`` by ``Node/status()``.
    private(set) var load = LoopLoad()
    struct LoopLoad {
        var busy: Duration = .zero
        var turns: UInt64 = 0
    }
    private var thread: LoopThread?
    /// The tailnet's access policy on inbound packets (nil: no policy, everything passes — a static
    /// WireGuard configuration). Loop thread only.
    var packetFilter: PacketFilter?
    /// The paths under tailnet peers: disco, DERP relays (nil for a static configuration). Loop
    /// thread only.
    var paths: PeerPaths?
    /// The tailnet whose peers are installed in WireGuard on demand (nil for a static configuration).
    /// Loop thread only.
    var tailnet: TailnetSession?
    /// Whether the kernel samples handshake messages on the UDP socket under a flood
    /// (``reviewHandshakeSampling(now:)``). Loop thread only.
    var handshakeSampling: HandshakeSampling
    /// Host descriptors the loop waits on in `ppoll` with its own (``Node/addLoopPollSource(_:onReadable:)``
    /// with the portable transport), each with what runs on the loop thread when it is readable.
    /// Loop thread only.
    var hostPollSources: [(descriptor: CInt, onReadable: () -> Void)] = []
    /// Host descriptors the transport waits on itself (io_uring, ``UDPTransport/watch(_:)``): the
    /// loop's wait stays one `io_uring_enter`. Loop thread only.
    private var watchedPollSources: [CInt: () -> Void] = [:]

    /// Most outbound packets taken from the backend per loop turn, so receiving is never starved.
    static let outboundBurst = 256
    /// Jobs per crypto batch: half a burst, so a full burst (or receive batch) is two or more
    /// batches and the engine fills one while the crypto threads seal or open the other.
    static let cryptoBatchCapacity = 128

    init(device: WireGuardDevice, backend: PacketBackend, settings: Settings, logger: Logger) throws(NodeError) {
        var transportConfiguration = settings.transport
        // A send buffer holds the 16-byte WireGuard header, one MTU-sized packet, padding and the tag.
        transportConfiguration.sendBufferSize = max(transportConfiguration.sendBufferSize, settings.mtu + 64)
        let log = logger
        transportConfiguration.log = { log.info("\($0)") }
        do {
            transport = try UDPTransport(configuration: transportConfiguration)
        } catch {
            if error == Errno(rawValue: EADDRINUSE) { throw NodeError.portInUse(settings.transport.port) }
            throw NodeError.system(operation: "open the UDP socket", errno: error.rawValue)
        }
        do {
            crypto = try CryptoWorkers(threadCount: settings.cryptoThreads, batchCapacity: Self.cryptoBatchCapacity)
        } catch {
            transport.close()
            throw error
        }
        self.device = device
        self.backend = backend
        self.logger = logger
        mtu = settings.mtu
        clock = settings.clock
        handshakeSampling = HandshakeSampling(budget: device.handshakeMessagesPerSecondUnderLoad,
                                              loadThreshold: device.handshakeLoadThreshold)
        dropForeignDatagrams()
    }

    /// The UDP port the node listens on.
    var localPort: UInt16 { transport.localPort }

    func start() throws(NodeError) {
        thread = try LoopThread(name: "wirenet-engine") { [self] in run() }
    }

    /// Stops the loop, runs what was still queued, and releases the transport and the backend.
    /// Waits for the loop thread; calling it again does nothing.
    func stop() {
        stopRequested.store(true, ordering: .releasing)
        transport.waker.wake()
        thread?.join()
        thread = nil
        crypto.stop()
    }

    /// The error that stopped the loop on its own; nil while it runs or after a requested stop.
    var failure: NodeError? { ending.withLock { $0.failure } }

    /// Waits until the loop has ended; returns the error if it stopped on its own. Returns nil at
    /// once when the calling task is cancelled.
    func waitUntilEnded() async -> NodeError? {
        let id = ending.withLock { ending -> UInt64 in
            ending.nextWaiter &+= 1
            return ending.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<NodeError?, Never>) in
                let immediate = ending.withLock { ending -> (NodeError?)? in
                    if ending.ended { return .some(ending.failure) }
                    if ending.cancelledWaiters.remove(id) != nil { return .some(nil) }
                    ending.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = ending.withLock { ending -> CheckedContinuation<NodeError?, Never>? in
                if let waiter = ending.waiters.removeValue(forKey: id) { return waiter }
                if !ending.ended { ending.cancelledWaiters.insert(id) }
                return nil
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Runs `work` on the loop thread between batches. Returns false (and drops `work`) once the
    /// engine has stopped.
    @discardableResult
    func perform(_ work: @escaping @Sendable (Engine) -> Void) -> Bool {
        perform(work, wakeIf: { true })
    }

    /// Like ``perform(_:)``, but wakes a sleeping loop only when `needsWake` says so; it is asked
    /// after the work is queued. For work with nothing to do until the loop wakes for another reason:
    /// a read while no data is buffered waits for a packet, and the loop runs queued work before it
    /// reports what a packet brought. Saves a wake-up of the loop thread per such call.
    ///
    /// `needsWake` must read, with sequentially consistent ordering, state that the loop writes (also
    /// sequentially consistent) before it waits: then either the caller sees the loop's write and
    /// wakes it, or the loop sees this work queued and does not sleep.
    @discardableResult
    func perform(_ work: @escaping @Sendable (Engine) -> Void, wakeIf needsWake: () -> Bool) -> Bool {
        let accepted = inbox.withLock { inbox -> Bool in
            guard inbox.accepting else { return false }
            inbox.work.append(work)
            return true
        }
        guard accepted else { return false }
        workQueued.store(true, ordering: .sequentiallyConsistent)
        if needsWake() && parked.load(ordering: .sequentiallyConsistent)
            && !wakePending.exchange(true, ordering: .sequentiallyConsistent) {
            wakeUps.add(1, ordering: .relaxed)
            transport.waker.wake()
        }
        return true
    }

    /// Times ``perform(_:wakeIf:)`` wrote the waker since the engine started: once per wait of the
    /// loop at most, never while it runs a turn.
    var wakeUpCount: UInt64 { wakeUps.load(ordering: .relaxed) }

    /// Runs `body` on the loop thread and returns its result; throws ``NodeError/closed`` when the
    /// engine has stopped.
    func query<T: Sendable>(_ body: @escaping @Sendable (Engine) -> T) async throws(NodeError) -> T {
        let result: T? = await withCheckedContinuation { continuation in
            let accepted = perform { engine in continuation.resume(returning: body(engine)) }
            if !accepted { continuation.resume(returning: nil) }
        }
        guard let result else { throw NodeError.closed }
        return result
    }

    // MARK: - The loop

    private func run() {
        var received = ReceiveBatch(capacity: 512)
        var outgoing = SendBatch(capacity: 512)
        var pollFDs = [pollfd(fd: transport.pollDescriptor, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: backend.pollDescriptor, events: Int16(POLLIN), revents: 0)]
        logger.debug("engine loop started", metadata: ["port": "\(transport.localPort)", "backend": "\(transport.backend)"])

        while !stopRequested.load(ordering: .acquiring) {
            let turnStart = clock.now()
            runQueuedWork()
            var now = clock.now()
            backend.service(now: now)
            let backendHasMore = sendOutbound(into: &outgoing, now: now)
            let deviceDeadline = pollDevice(into: &outgoing, now: now)
            let pathsDeadline = pollPaths(into: &outgoing, now: now)
            transport.send(&outgoing)
            backend.finishTurn()

            let deadline = earliest(earliest(deviceDeadline, backend.nextDeadline(now: now)), pathsDeadline)
            var timeout: Duration? = deadline.map { $0.since(now) }
            parked.store(true, ordering: .sequentiallyConsistent)
            // What the transport already took from the kernel (this turn's send collects receive
            // completions too) does not make its poll descriptor readable: collect it first.
            if backendHasMore || workQueued.load(ordering: .sequentiallyConsistent) || transport.hasPendingInput {
                timeout = .zero
            }
            let waitStart = clock.now()

            let polled = backend.pollDescriptor >= 0 || paths != nil || !hostPollSources.isEmpty
            do {
                if polled {
                    // Wait on the transport, the backend's descriptor, the host poll sources and the
                    // relay connections together, then collect without waiting.
                    pollFDs.removeSubrange(2...)
                    for source in hostPollSources {
                        pollFDs.append(pollfd(fd: source.descriptor, events: Int16(POLLIN), revents: 0))
                    }
                    paths?.derp.appendPollDescriptors(to: &pollFDs)
                    waitForReadable(&pollFDs, timeout: timeout)
                    try transport.receive(into: &received, timeout: .zero)
                } else {
                    try transport.receive(into: &received, timeout: timeout)
                }
            } catch {
                let failure = NodeError.system(operation: "receive from the UDP socket", errno: error.rawValue)
                logger.error("the UDP transport failed; the node stops", metadata: ["error": "\(failure)"])
                ending.withLock { $0.failure = failure }
                break
            }
            parked.store(false, ordering: .sequentiallyConsistent)
            wakePending.store(false, ordering: .sequentiallyConsistent)
            now = clock.now()
            handle(&received, replies: &outgoing, now: now)
            reviewHandshakeSampling(now: now)
            if !received.readyDescriptors.isEmpty { serviceWatchedPollSources(received) }
            if polled { serviceHostPollSources(pollFDs) }
            if paths != nil { serviceRelays(pollFDs, replies: &outgoing, now: now) }
            load.busy += waitStart.since(turnStart) + clock.now().since(now)
            load.turns &+= 1
        }
        paths?.derp.close()

        transport.recycle(&received)
        // Whatever was queued still runs (so no caller waits forever), then nothing more is accepted.
        let remaining = inbox.withLock { inbox -> [@Sendable (Engine) -> Void] in
            inbox.accepting = false
            defer { inbox.work = [] }
            return inbox.work
        }
        for work in remaining { work(self) }
        crypto.stop()
        backend.close()
        transport.close()
        logger.debug("engine loop stopped")
        let (waiters, failure) = ending.withLock { ending in
            ending.ended = true
            defer { ending.waiters = [:]; ending.cancelledWaiters = [] }
            return (ending.waiters, ending.failure)
        }
        for waiter in waiters.values { waiter.resume(returning: failure) }
    }

    private func runQueuedWork() {
        workQueued.store(false, ordering: .sequentiallyConsistent)
        // Swap the queue with the loop's own empty array instead of copying it out: returning the
        // inbox's array and then emptying it kept two references to one buffer, so the emptying
        // allocated a new buffer on every turn that had work.
        inbox.withLock { inbox in
            guard !inbox.work.isEmpty else { return }
            swap(&inbox.work, &runnable)
        }
        guard !runnable.isEmpty else { return }
        for index in runnable.indices { runnable[index](self) }
        runnable.removeAll(keepingCapacity: true)
    }

    /// Makes the loop wait on `descriptor` too and run `onReadable` on the loop thread, after the
    /// packets of the wait that found it readable: inside the transport's wait when it can
    /// (io_uring), else in `ppoll` with the transport's descriptor. Loop thread only.
    func addHostPollSource(_ descriptor: CInt, onReadable: @escaping () -> Void) {
        if transport.watch(descriptor) {
            watchedPollSources[descriptor] = onReadable
        } else {
            hostPollSources.append((descriptor, onReadable))
        }
    }

    /// Runs the handlers of the watched host descriptors the transport reported readable.
    private func serviceWatchedPollSources(_ batch: ReceiveBatch) {
        for descriptor in batch.readyDescriptors { watchedPollSources[descriptor]?() }
    }

    /// Where the relay connections' entries start in the loop's poll set: after the transport, the
    /// backend and the host poll sources.
    var relayPollIndex: Int { 2 + hostPollSources.count }

    /// Runs the handlers of the host poll sources the last wait found readable (`fds[2...]`, in the
    /// order of ``hostPollSources``). What they queue with ``perform(_:)`` runs in the next turn,
    /// which starts without waiting.
    private func serviceHostPollSources(_ fds: [pollfd]) {
        guard !hostPollSources.isEmpty else { return }
        for (index, source) in hostPollSources.enumerated() where 2 + index < fds.count && fds[2 + index].revents != 0 {
            source.onReadable()
        }
    }

    private func waitForReadable(_ fds: inout [pollfd], timeout: Duration?) {
        for i in fds.indices { fds[i].revents = 0 }
        _ = wirenet_ppoll(&fds, UInt(fds.count), Self.pollTimeoutNanoseconds(timeout))
    }

    /// The wait of one loop turn for `ppoll`, in nanoseconds (-1: no limit), rounded up so that
    /// the loop never wakes before a deadline. Not milliseconds as `poll()` takes them: rounded up to
    /// the next millisecond, a 100 µs retransmission or pacing timer fired up to 1 ms late, and a
    /// zero-length wait became none only by luck of the rounding.
    static func pollTimeoutNanoseconds(_ timeout: Duration?) -> Int64 {
        guard let timeout else { return -1 }
        let (seconds, attoseconds) = max(timeout, .zero).components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return Int64.max }
        let (total, overflowAgain) = whole.addingReportingOverflow((attoseconds + 999_999_999) / 1_000_000_000)
        return overflowAgain ? Int64.max : total
    }

    /// Whether transport crypto fans out to ``CryptoWorkers``: only with more than one crypto thread,
    /// and only for static configurations — the parallel path has no disco demux, peer paths,
    /// on-demand peers or packet filter, which a tailnet node needs on every datagram.
    var usesParallelCrypto: Bool {
        crypto.threadCount > 1 && paths == nil && tailnet == nil && packetFilter == nil
    }

    /// Datagrams in: decrypt in place and deliver; handshake answers go out with the next batch.
    private func handle(_ batch: inout ReceiveBatch, replies: inout SendBatch, now: NetInstant) {
        for error in batch.errors {
            logger.debug("datagram not delivered", metadata: ["destination": "\(error.destination)", "error": "\(error.error)"])
        }
        if usesParallelCrypto {
            openAndDeliver(&batch, replies: &replies, now: now)
            return
        }
        for datagram in batch.datagrams {
            let bytes = datagram.bytes
            let source = IPEndpoint(datagram.source)
            if HandshakeSampling.isSampled(bytes) { handshakeSampling.note(handshakeMessages: 1) }
            var from = source
            if let paths {
                if DiscoProtocol.looksLikeDisco(UnsafeRawBufferPointer(bytes)) {
                    perform(paths.discovery.receive(UnsafeRawBufferPointer(bytes), via: .udp(source), now: now), into: &replies, now: now)
                    continue
                }
                from = paths.inboundEndpoint(for: source)
            }
            activateTailnetPeer(sending: UnsafeRawBufferPointer(bytes), from: from)
            switch device.receive(bytes, length: bytes.count, from: from, now: now) {
            case .packet(let peer, let range):
                if let paths, from == source, let handle = paths.handle(of: peer) {
                    // WireGuard roamed a tailnet peer to a raw source: the path under it stays ours.
                    try? device.setEndpoint(handle, of: peer)
                }
                if packetFilter != nil, !packetFilter!.admitsInbound(UnsafeRawBufferPointer(rebasing: bytes[range]), now: now) { continue }
                backend.deliver(UnsafeMutableRawBufferPointer(rebasing: bytes[range]), from: peer, now: now)
            case .reply(let endpoint, let length):
                guard var buffer = transport.makeSendBuffer() else { continue }
                if buffer.setDatagram(UnsafeRawBufferPointer(rebasing: bytes[0..<length])) {
                    dispatch(buffer, to: endpoint, in: &replies, now: now)
                } else {
                    transport.releaseSendBuffer(buffer)
                }
            case .processed, .dropped:
                break
            }
        }
    }

    /// Packets out: the backend writes each packet straight into a send buffer, after room for the
    /// WireGuard header, and WireGuard encrypts it there (``sealOutbound(into:now:)``). Returns true
    /// when the backend may have more.
    /// A TCP payload is not copied into the send buffer: the backend leaves it in the connection's
    /// send buffer and WireGuard encrypts it from there (`GatherList`, `GatherSeal`); every seal has
    /// run when this returns, so the backend may then reuse that memory.
    private func sendOutbound(into batch: inout SendBatch, now: NetInstant) -> Bool {
        defer { backend.releaseGatheredPayloads() }
        if usesParallelCrypto { return sealOutbound(into: &batch, now: now) }
        let header = 16  // WireGuard transport header (paper §5.4.6)
        var payload = GatherList()
        for _ in 0..<Self.outboundBurst {
            guard var buffer = transport.makeSendBuffer() else { return true }
            let start = buffer.dataStart - header
            let region = UnsafeMutableRawBufferPointer(rebasing: buffer.storage[start...])
            let packetSpace = UnsafeMutableRawBufferPointer(rebasing: region[header..<(header + mtu)])
            guard let length = backend.nextOutbound(into: packetSpace, gathering: &payload, now: now) else {
                transport.releaseSendBuffer(buffer)
                return false
            }
            // The filter and the tailnet's routing read only the IP and UDP headers, which are in
            // `packetSpace` (only TCP payloads are gathered).
            if packetFilter != nil {
                packetFilter!.noteOutbound(UnsafeRawBufferPointer(rebasing: packetSpace[0..<length]), now: now)
            }
            var result = device.send(region, packetLength: length, gathering: payload, now: now)
            if result == .dropped(.noRoute), let tailnet,
               let destination = Self.destination(of: UnsafeRawBufferPointer(rebasing: packetSpace[0..<length])),
               tailnet.activate(routing: destination, in: self) {
                result = device.send(region, packetLength: length, gathering: payload, now: now)
            }
            switch result {
            case .datagram(let endpoint, let datagramLength):
                buffer.dataStart = start
                buffer.dataCount = datagramLength
                dispatch(buffer, to: endpoint, in: &batch, now: now)
            case .queued, .dropped:
                transport.releaseSendBuffer(buffer)
            }
        }
        return true
    }

    /// Installs the tailnet peer a handshake initiation (type 1, 148 bytes, paper §5.4.2) comes from
    /// when WireGuard does not hold it yet: known by its handle (a disco-confirmed path or a relay),
    /// else by the endpoints control listed for it.
    func activateTailnetPeer(sending datagram: UnsafeRawBufferPointer, from endpoint: IPEndpoint) {
        guard let tailnet, datagram.count == 148, datagram[0] == 1 else { return }
        if let id = PeerPaths.peerID(ofHandle: endpoint) {
            _ = tailnet.activate(id: id, in: self)
        } else {
            _ = tailnet.activate(at: endpoint, in: self)
        }
    }

    /// The destination address of an outbound IP packet (the backend wrote a whole header).
    private static func destination(of packet: UnsafeRawBufferPointer) -> IPAddress? {
        guard let first = packet.first else { return nil }
        if first >> 4 == 4, let ip = try? IPv4Packet(validating: packet) { return .v4(ip.destination) }
        if first >> 4 == 6, let ip = try? IPv6Packet(validating: packet) { return .v6(ip.destination) }
        return nil
    }

    /// Handshake initiations and retries, keepalives, and packets that waited for a session.
    /// Returns the device's next deadline.
    private func pollDevice(into batch: inout SendBatch, now: NetInstant) -> NetInstant? {
        while var buffer = transport.makeSendBuffer() {
            let region = UnsafeMutableRawBufferPointer(rebasing: buffer.storage[buffer.dataStart...])
            switch device.poll(into: region, now: now) {
            case .datagram(let endpoint, let length):
                buffer.dataCount = length
                dispatch(buffer, to: endpoint, in: &batch, now: now)
            case .idle(let deadline):
                transport.releaseSendBuffer(buffer)
                return deadline
            }
        }
        return now  // out of send buffers: come back as soon as completions free some
    }
}

/// The earlier of two optional deadlines (nil: none), without building an array on every loop turn.
func earliest<T: Comparable>(_ a: T?, _ b: T?) -> T? {
    guard let a else { return b }
    guard let b else { return a }
    return min(a, b)
}
