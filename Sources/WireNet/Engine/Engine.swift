#if canImport(Glibc)
import Glibc
#endif
import Logging
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
        /// Threads that seal and open, this loop's included (``CryptoWorkers``).
        var cryptoThreads = CryptoWorkers.defaultThreadCount
    }

    /// Work handed to the loop from other threads. `nil` once the loop has stopped for good.
    private struct Inbox {
        var work: [@Sendable (Engine) -> Void] = []
        var accepting = true
    }

    let device: WireGuardDevice
    let transport: UDPTransport
    let backend: PacketBackend
    private let logger: Logger
    let mtu: Int
    let crypto: CryptoWorkers
    let pending = PendingDatagrams(capacity: 512)
    private let inbox = Mutex(Inbox())
    private let stopRequested = Atomic<Bool>(false)
    private var thread: LoopThread?

    /// Most outbound packets taken from the backend per loop turn, so receiving is never starved.
    static let outboundBurst = 256

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
            crypto = try CryptoWorkers(threadCount: settings.cryptoThreads, batchCapacity: 512)
        } catch {
            transport.close()
            throw error
        }
        self.device = device
        self.backend = backend
        self.logger = logger
        mtu = settings.mtu
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

    /// Runs `work` on the loop thread between batches. Returns false (and drops `work`) once the
    /// engine has stopped.
    @discardableResult
    func perform(_ work: @escaping @Sendable (Engine) -> Void) -> Bool {
        let accepted = inbox.withLock { inbox -> Bool in
            guard inbox.accepting else { return false }
            inbox.work.append(work)
            return true
        }
        if accepted { transport.waker.wake() }
        return accepted
    }

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
            runQueuedWork()
            var now = EngineClock.now()
            backend.service(now: now)
            let backendHasMore = sendOutbound(into: &outgoing, now: now)
            let deviceDeadline = pollDevice(into: &outgoing, now: now)
            transport.send(&outgoing)

            let deadline = earliest(deviceDeadline, backend.nextDeadline(now: now))
            var timeout: Duration? = deadline.map { $0.since(now) }
            if backendHasMore { timeout = .zero }

            do {
                if backend.pollDescriptor >= 0 {
                    // Wait on the transport and the backend's descriptor together, then collect without waiting.
                    waitForReadable(&pollFDs, timeout: timeout)
                    try transport.receive(into: &received, timeout: .zero)
                } else {
                    try transport.receive(into: &received, timeout: timeout)
                }
            } catch {
                logger.error("UDP transport failed; the node stops", metadata: ["error": "\(error)"])
                break
            }
            now = EngineClock.now()
            handle(&received, replies: &outgoing, now: now)
        }

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
    }

    private func runQueuedWork() {
        let work = inbox.withLock { inbox -> [@Sendable (Engine) -> Void] in
            guard !inbox.work.isEmpty else { return [] }
            defer { inbox.work.removeAll(keepingCapacity: true) }
            return inbox.work
        }
        for item in work { item(self) }
    }

    private func waitForReadable(_ fds: inout [pollfd], timeout: Duration?) {
        let milliseconds: CInt
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            milliseconds = CInt(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        } else {
            milliseconds = -1
        }
        for i in fds.indices { fds[i].revents = 0 }
        _ = poll(&fds, nfds_t(fds.count), milliseconds)
    }

    /// Datagrams in: decrypt in place and deliver; handshake answers go out with the next batch.
    private func handle(_ batch: inout ReceiveBatch, replies: inout SendBatch, now: WireGuardInstant) {
        for error in batch.errors {
            logger.debug("datagram not delivered", metadata: ["destination": "\(error.destination)", "error": "\(error.error)"])
        }
        openAndDeliver(&batch, replies: &replies, now: now)
    }

    /// Packets out: the backend writes each packet straight into a send buffer, after room for the
    /// WireGuard header, and WireGuard encrypts it there (``sealOutbound(into:now:)``). Returns true
    /// when the backend may have more.
    private func sendOutbound(into batch: inout SendBatch, now: WireGuardInstant) -> Bool {
        sealOutbound(into: &batch, now: now)
    }

    /// Handshake initiations and retries, keepalives, and packets that waited for a session.
    /// Returns the device's next deadline.
    private func pollDevice(into batch: inout SendBatch, now: WireGuardInstant) -> WireGuardInstant? {
        while var buffer = transport.makeSendBuffer() {
            let region = UnsafeMutableRawBufferPointer(rebasing: buffer.storage[buffer.dataStart...])
            switch device.poll(into: region, now: now) {
            case .datagram(let endpoint, let length):
                buffer.dataCount = length
                batch.append(buffer, to: UDPEndpoint(endpoint))
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
