#if canImport(Glibc)
import Glibc
#endif
import NetStack
import Synchronization
import Wire
import WireGuard

/// The default backend: WireNet's own TCP/IP stack, plus the bookkeeping that connects its sockets
/// to the async API — who waits for which socket, and for what.
///
/// Everything here runs on the engine's loop thread (hence `@unchecked Sendable`: the API types
/// hold a reference but only use it inside ``Engine/perform(_:)``). Waiters are continuations; they are resumed
/// from the loop when the stack reports the event they wait for, so no thread ever blocks for a
/// socket. Pending work per socket is bounded by what callers have in flight (one entry per
/// outstanding call).
final class UserspaceStack: PacketBackend, @unchecked Sendable {
    let stack: IPStack
    /// The time for socket calls that arrive between loop turns (connect, close): read fresh, since
    /// the loop may have slept long since its last turn.
    private var now: NetInstant { clock.now() }
    private let clock: EngineClock

    /// A read or accept still waiting for data, with what to hand back.
    struct PendingRead {
        var id: CallID
        var maximumLength: Int
        var continuation: CallCompletion<[UInt8]?>
        /// Takes the bytes first, on the loop thread, and says how many it took; the caller gets the
        /// rest (``TCPStream/read(maximumLength:passingTo:)``).
        var consume: (@Sendable (UnsafeRawBufferPointer) -> Int)? = nil
    }
    struct PendingWrite {
        var id: CallID
        var bytes: [UInt8]
        var offset: Int
        var continuation: CallCompletion<Void>
    }
    struct StreamWaiters {
        var reads: [PendingRead] = []
        var writes: [PendingWrite] = []
        var connect: CallCompletion<StreamInfo>?
        var connectDeadline: NetInstant?
    }
    typealias Datagram = (bytes: [UInt8], from: IPEndpoint)
    /// A connection handed to the API: its handle and both ends.
    struct StreamInfo: Sendable {
        var socket: TCPSocketHandle
        var local: IPEndpoint
        var remote: IPEndpoint
        var readiness: ReadReadiness
    }
    /// Identifies one pending call, so a cancelled task can withdraw exactly its own call.
    typealias CallID = UInt64
    private var nextCallID: CallID = 0
    func makeCallID() -> CallID { nextCallID &+= 1; return nextCallID }

    private var streams: [TCPSocketHandle: StreamWaiters] = [:]
    /// What each connection handed to the API tells its readers (see ``ReadReadiness``).
    private var readiness: [TCPSocketHandle: ReadReadiness] = [:]
    /// A call waiting for connections: one (``TCPListener/accept()``) or each of them in turn
    /// (`each`, ``TCPListener/acceptEach(_:)``, which stays first in the queue until it ends).
    struct PendingAccept {
        var id: CallID
        var continuation: CheckedContinuation<StreamInfo?, any Error>
        var each: (@Sendable (StreamInfo) -> Void)? = nil
    }
    private var accepts: [TCPListenerHandle: [PendingAccept]] = [:]
    private var datagramReads: [UDPSocketHandle: [(id: CallID, continuation: CheckedContinuation<Datagram?, any Error>)]] = [:]
    /// Connects still in progress, with their deadlines (few at a time; scanned on each turn).
    private var connectDeadlines: [TCPSocketHandle: NetInstant] = [:]
    private var scratch = [UInt8](repeating: 0, count: 65536)
    private var closed = false
    /// Completions that only let a caller go on, held until the turn's packets are out
    /// (``finishTurn()``).
    private var deferred = DeferredResumptions()
    /// Completions waiting for ``finishTurn()``.
    var deferredResumptionCount: Int { deferred.count }

    init(configuration: IPStackConfiguration, clock: EngineClock) {
        stack = IPStack(configuration: configuration)
        self.clock = clock
    }

    // MARK: PacketBackend

    func deliver(_ packet: UnsafeMutableRawBufferPointer, from peer: PublicKey, now: NetInstant) {
        stack.receive(UnsafeRawBufferPointer(packet), now: now)
    }

    func nextOutbound(into buffer: UnsafeMutableRawBufferPointer, gathering payload: inout GatherList, now: NetInstant) -> Int? {
        stack.nextOutgoingPacket(into: buffer, gathering: &payload, now: now)
    }

    func releaseGatheredPayloads() {
        stack.releaseGatheredPayloads()
    }

    /// The next packet, whole in `buffer` (for callers that drive the stack without the engine).
    func nextOutbound(into buffer: UnsafeMutableRawBufferPointer, now: NetInstant) -> Int? {
        stack.nextOutgoingPacket(into: buffer, now: now)
    }

    func service(now: NetInstant) {
        if let deadline = stack.nextDeadline, deadline <= now {
            stack.handleTimers(now: now)
        }
        for (socket, deadline) in connectDeadlines where deadline <= now {
            cancelConnect(socket, with: NodeError.timedOut)
        }
        stack.pollEvents { handle, events in
            switch handle {
            case .tcp(let socket): streamEvent(socket, events)
            case .listener(let listener): if events.contains(.acceptable) { serviceAccepts(listener) }
            case .udp(let socket): if events.contains(.readable) { serviceDatagramReads(socket) }
            }
        }
    }

    func nextDeadline(now: NetInstant) -> NetInstant? {
        var next = stack.nextDeadline
        for deadline in connectDeadlines.values { next = WireNet.earliest(next, deadline) }
        return next
    }

    var pollDescriptor: CInt { -1 }

    /// Resumes the completions held back this turn (see ``DeferredResumptions``).
    func finishTurn() {
        deferred.resumeAll()
    }

    /// Fails every waiter: the node is going away.
    func close() {
        deferred.resumeAll()
        closed = true
        for (_, waiters) in streams {
            for read in waiters.reads { read.continuation.resume(throwing: NodeError.closed) }
            for write in waiters.writes { write.continuation.resume(throwing: NodeError.closed) }
            waiters.connect?.resume(throwing: NodeError.closed)
        }
        streams = [:]
        for shared in readiness.values { shared.set(true) }
        readiness = [:]
        connectDeadlines = [:]
        for (_, waiters) in accepts { for waiter in waiters { waiter.continuation.resume(throwing: NodeError.closed) } }
        accepts = [:]
        for (_, waiters) in datagramReads { for waiter in waiters { waiter.continuation.resume(throwing: NodeError.closed) } }
        datagramReads = [:]
    }

    // MARK: TCP connections

    /// Starts an active open; `continuation` resumes once established, refused, or at `timeout`.
    func connect(to remote: IPEndpoint, timeout: Duration,
                 continuation: CallCompletion<StreamInfo>) -> TCPSocketHandle? {
        guard !closed else { continuation.resume(throwing: NodeError.closed); return nil }
        do {
            let socket = try stack.connect(to: remote, now: now)
            streams[socket, default: StreamWaiters()].connect = continuation
            connectDeadlines[socket] = now + timeout
            return socket
        } catch {
            continuation.resume(throwing: NodeError(error))
            return nil
        }
    }

    /// Gives up on a connect still in progress (the dial timed out or was cancelled).
    func cancelConnect(_ socket: TCPSocketHandle, with error: any Error) {
        connectDeadlines[socket] = nil
        guard let waiter = streams[socket]?.connect else { return }
        streams[socket] = nil
        stack.abort(socket)
        waiter.resume(throwing: error)
    }

    private func info(_ socket: TCPSocketHandle) -> StreamInfo? {
        guard let status = stack.status(of: socket) else { return nil }
        let shared = readiness[socket] ?? ReadReadiness()
        readiness[socket] = shared
        return StreamInfo(socket: socket, local: status.local, remote: status.remote, readiness: shared)
    }

    /// Reads up to `maximumLength` bytes: at once when data is buffered, else when it arrives.
    /// `nil` is the end of the stream.
    /// With `consume`, the bytes go to it first on the loop thread and the caller gets what it left.
    func read(_ socket: TCPSocketHandle, id: CallID, maximumLength: Int,
              consume: (@Sendable (UnsafeRawBufferPointer) -> Int)? = nil,
              continuation: CallCompletion<[UInt8]?>) {
        guard !closed else { return continuation.resume(throwing: NodeError.closed) }
        streams[socket, default: StreamWaiters()].reads.append(
            PendingRead(id: id, maximumLength: maximumLength, continuation: continuation, consume: consume))
        serviceReads(socket)
    }

    /// Withdraws a read or write whose task was cancelled (no effect when it already completed).
    func cancel(_ id: CallID, on socket: TCPSocketHandle) {
        if let index = streams[socket]?.reads.firstIndex(where: { $0.id == id }) {
            streams[socket]!.reads.remove(at: index).continuation.resume(throwing: CancellationError())
        }
        if let index = streams[socket]?.writes.firstIndex(where: { $0.id == id }) {
            streams[socket]!.writes.remove(at: index).continuation.resume(throwing: CancellationError())
        }
    }

    /// Queues `bytes`; resumes when all of them are in the send buffer (backpressure).
    func write(_ socket: TCPSocketHandle, id: CallID, _ bytes: [UInt8], continuation: CallCompletion<Void>) {
        guard !closed else { return continuation.resume(throwing: NodeError.closed) }
        streams[socket, default: StreamWaiters()].writes.append(PendingWrite(id: id, bytes: bytes, offset: 0, continuation: continuation))
        serviceWrites(socket)
    }

    func setNoDelay(_ socket: TCPSocketHandle, _ enabled: Bool) throws(NodeError) {
        do { try stack.setNoDelay(socket, enabled) } catch { throw NodeError(error) }
    }

    func noDelay(of socket: TCPSocketHandle) throws(NodeError) -> Bool {
        do { return try stack.noDelay(of: socket) } catch { throw NodeError(error) }
    }

    func shutdownWrite(_ socket: TCPSocketHandle) throws(NodeError) {
        do { try stack.shutdownWrite(socket) } catch { throw NodeError(error) }
    }

    /// Closes the connection gracefully (FIN after queued data); pending calls fail with `closed`.
    func close(_ socket: TCPSocketHandle) {
        failWaiters(of: socket, with: .closed)
        stack.close(socket, now: now)
    }

    func abort(_ socket: TCPSocketHandle) {
        failWaiters(of: socket, with: .closed)
        stack.abort(socket)
    }

    private func failWaiters(of socket: TCPSocketHandle, with error: NodeError) {
        readiness.removeValue(forKey: socket)?.set(true)
        connectDeadlines[socket] = nil
        guard let waiters = streams.removeValue(forKey: socket) else { return }
        for read in waiters.reads { read.continuation.resume(throwing: error) }
        for write in waiters.writes { write.continuation.resume(throwing: error) }
        waiters.connect?.resume(throwing: error)
    }

    private func streamEvent(_ socket: TCPSocketHandle, _ events: SocketEvents) {
        if events.contains(.connected), let waiter = streams[socket]?.connect {
            streams[socket]?.connect = nil
            connectDeadlines[socket] = nil
            if let info = info(socket) { waiter.resume(returning: info) } else { waiter.resume(throwing: NodeError.closed) }
        }
        if events.contains(.readable) || events.contains(.closed) { serviceReads(socket) }
        if events.contains(.writable) || events.contains(.closed) { serviceWrites(socket) }
        if events.contains(.closed), let waiter = streams[socket]?.connect {
            streams[socket]?.connect = nil
            connectDeadlines[socket] = nil
            // Closed before it connected, with no error recorded: the SYN was answered with a reset.
            let refused = stack.status(of: socket).map { NodeError.connectionRefused($0.remote) }
            waiter.resume(throwing: connectionError(socket) ?? refused ?? .closed)
        }
    }

    /// The error a connection ended with, as the API reports it.
    private func connectionError(_ socket: TCPSocketHandle) -> NodeError? {
        guard let status = stack.status(of: socket) else { return .closed }
        switch status.error {
        case .connectionReset?: return .connectionReset
        case .connectionRefused?: return .connectionRefused(status.remote)
        case .timedOut?: return .timedOut
        case .aborted?: return .closed
        case nil: return nil
        }
    }

    /// Completes the reads that can complete, then tells the stream's readers whether the next read
    /// could complete without a packet arriving first.
    private func serviceReads(_ socket: TCPSocketHandle) {
        completeReads(socket)
        guard let shared = readiness[socket] else { return }
        if let status = stack.status(of: socket) {
            shared.set(status.readableBytes > 0 || status.isAtEndOfStream || status.state == .closed
                || status.state == .timeWait || status.error != nil)
        } else {
            readiness[socket] = nil
            shared.set(true)
        }
    }

    private func completeReads(_ socket: TCPSocketHandle) {
        while let read = streams[socket]?.reads.first {
            guard let status = stack.status(of: socket) else {
                streams[socket]?.reads.removeFirst()
                read.continuation.resume(throwing: NodeError.closed)
                continue
            }
            if status.readableBytes > 0 {
                // Copy once, from the stack's receive ring straight into the array handed to the caller.
                var failure: SocketError?
                let bytes = [UInt8](unsafeUninitializedCapacity: min(read.maximumLength, status.readableBytes)) { buffer, count in
                    do throws(SocketError) {
                        count = try stack.receive(socket, into: UnsafeMutableRawBufferPointer(buffer))
                    } catch {
                        failure = error
                        count = 0
                    }
                }
                streams[socket]?.reads.removeFirst()
                if let failure {
                    read.continuation.resume(throwing: NodeError(failure))
                } else if let consume = read.consume {
                    let taken = min(max(bytes.withUnsafeBytes(consume), 0), bytes.count)
                    if taken == bytes.count {
                        // The bytes are already on their way (in the host socket): the caller only
                        // reads again, which can wait until this turn's packets are out.
                        deferred.append(.forwarded(read.continuation))
                    } else {
                        read.continuation.resume(returning: taken == 0 ? bytes : Array(bytes[taken...]))
                    }
                } else {
                    read.continuation.resume(returning: bytes)
                }
                continue
            }
            if status.isAtEndOfStream || status.state == .closed || status.state == .timeWait {
                streams[socket]?.reads.removeFirst()
                if let error = connectionError(socket) {
                    read.continuation.resume(throwing: error)
                } else {
                    read.continuation.resume(returning: nil)
                }
                continue
            }
            return  // nothing buffered yet: wait for `.readable`
        }
    }

    private func serviceWrites(_ socket: TCPSocketHandle) {
        while var write = streams[socket]?.writes.first {
            if let status = stack.status(of: socket), status.state == .closed || status.error != nil {
                streams[socket]?.writes.removeFirst()
                write.continuation.resume(throwing: connectionError(socket) ?? .closed)
                continue
            }
            let offset = write.offset
            let result = write.bytes.withUnsafeBytes { bytes in
                Result { () throws(SocketError) in try stack.send(socket, UnsafeRawBufferPointer(rebasing: bytes[offset...])) }
            }
            guard case .success(let sent) = result else {
                if case .failure(let error) = result {
                    streams[socket]?.writes.removeFirst()
                    write.continuation.resume(throwing: NodeError(error))
                }
                continue
            }
            write.offset += sent
            if write.offset == write.bytes.count {
                streams[socket]?.writes.removeFirst()
                // The bytes are in the send buffer and leave with this turn's packets; the writer
                // hears of it after they are out, not before (its wake-up would delay them).
                deferred.append(.wrote(write.continuation))
                continue
            }
            streams[socket]?.writes[0] = write
            return  // the send buffer is full: wait for `.writable`
        }
    }

    // MARK: Listeners

    func listen(port: UInt16, backlog: Int) throws(NodeError) -> TCPListenerHandle {
        guard !closed else { throw .closed }
        do {
            let listener = try stack.listen(port: port, backlog: backlog)
            accepts[listener] = []
            return listener
        } catch {
            if case .addressInUse = error { throw .portInUse(port) }
            throw NodeError(error)
        }
    }

    /// The next connection, at once or when one arrives; nil once the listener is closed.
    func accept(_ listener: TCPListenerHandle, id: CallID, continuation: CheckedContinuation<StreamInfo?, any Error>) {
        guard !closed, accepts[listener] != nil else { return continuation.resume(returning: nil) }
        accepts[listener]!.append(PendingAccept(id: id, continuation: continuation))
        serviceAccepts(listener)
    }

    /// Hands every connection to `handler` on the loop thread, at once for those already waiting
    /// and then as they arrive; `continuation` resumes with nil once the listener is closed.
    func acceptEach(_ listener: TCPListenerHandle, id: CallID, handler: @escaping @Sendable (StreamInfo) -> Void,
                    continuation: CheckedContinuation<StreamInfo?, any Error>) {
        guard !closed, accepts[listener] != nil else { return continuation.resume(returning: nil) }
        accepts[listener]!.append(PendingAccept(id: id, continuation: continuation, each: handler))
        serviceAccepts(listener)
    }

    func cancel(_ id: CallID, on listener: TCPListenerHandle) {
        if let index = accepts[listener]?.firstIndex(where: { $0.id == id }) {
            accepts[listener]!.remove(at: index).continuation.resume(throwing: CancellationError())
        }
    }

    func close(_ listener: TCPListenerHandle) {
        guard let waiters = accepts.removeValue(forKey: listener) else { return }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
        stack.close(listener)
    }

    private func serviceAccepts(_ listener: TCPListenerHandle) {
        while let waiter = accepts[listener]?.first {
            let socket: TCPSocketHandle?
            do { socket = try stack.accept(listener) } catch {
                accepts[listener]?.removeFirst()
                waiter.continuation.resume(throwing: NodeError(error))
                continue
            }
            guard let socket else { return }
            // A connection reset before it was accepted has no status left: skip it.
            guard let info = info(socket) else { continue }
            if let each = waiter.each {
                each(info)
            } else {
                accepts[listener]?.removeFirst()
                waiter.continuation.resume(returning: info)
            }
        }
    }

    // MARK: UDP

    func bindUDP(port: UInt16) throws(NodeError) -> UDPSocketHandle {
        guard !closed else { throw .closed }
        do {
            let socket = try stack.bindUDP(port: port)
            datagramReads[socket] = []
            return socket
        } catch {
            if case .addressInUse = error { throw .portInUse(port) }
            throw NodeError(error)
        }
    }

    func sendUDP(_ socket: UDPSocketHandle, to remote: IPEndpoint, _ bytes: [UInt8]) throws(NodeError) {
        guard !closed else { throw .closed }
        let result = bytes.withUnsafeBytes { payload in
            Result { () throws(SocketError) in try stack.sendUDP(socket, to: remote, payload) }
        }
        if case .failure(let error) = result { throw NodeError(error) }
    }

    /// The next datagram, at once or when one arrives; nil once the socket is closed.
    func receiveUDP(_ socket: UDPSocketHandle, id: CallID, continuation: CheckedContinuation<Datagram?, any Error>) {
        guard !closed, datagramReads[socket] != nil else { return continuation.resume(returning: nil) }
        datagramReads[socket]!.append((id, continuation))
        serviceDatagramReads(socket)
    }

    func cancel(_ id: CallID, on socket: UDPSocketHandle) {
        if let index = datagramReads[socket]?.firstIndex(where: { $0.id == id }) {
            datagramReads[socket]!.remove(at: index).continuation.resume(throwing: CancellationError())
        }
    }

    func close(_ socket: UDPSocketHandle) {
        guard let waiters = datagramReads.removeValue(forKey: socket) else { return }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
        stack.close(socket)
    }

    private func serviceDatagramReads(_ socket: UDPSocketHandle) {
        while let waiter = datagramReads[socket]?.first {
            let result = scratch.withUnsafeMutableBytes { buffer in
                Result { () throws(SocketError) in try stack.receiveUDP(socket, into: buffer) }
            }
            guard case .success(let received) = result else {
                datagramReads[socket]?.removeFirst()
                waiter.continuation.resume(returning: nil)  // the socket is gone
                continue
            }
            guard let (length, sender) = received else { return }
            datagramReads[socket]?.removeFirst()
            waiter.continuation.resume(returning: (Array(scratch[0..<length]), sender))
        }
    }
}

extension NodeError {
    /// The API's view of a stack refusal.
    init(_ error: SocketError) {
        switch error {
        case .addressInUse(let endpoint): self = .portInUse(endpoint.port)
        case .addressNotAvailable(let address): self = .noRouteToHost(address.description)
        case .invalidHandle: self = .closed
        case .tooManyConnections: self = .system(operation: "open a connection (connection table full)", errno: EMFILE)
        case .noEphemeralPort: self = .system(operation: "pick a local port (none free)", errno: EADDRINUSE)
        case .messageTooLong(let size, let maximum): self = .datagramTooLarge(size: size, limit: maximum)
        case .noBufferSpace: self = .system(operation: "queue the packet (output queue full)", errno: ENOBUFS)
        }
    }
}

/// Whether a read on one connection could complete without another packet arriving: data or the
/// end of the stream is buffered, or the connection has ended. The loop writes it after every change
/// it makes to the connection's reads; ``TCPStream/read(maximumLength:)`` reads it to decide whether
/// its call must wake the loop (``Engine/perform(_:wakeIf:)``). Starts true, and becomes true for
/// good once the connection is gone, so a wrong value can only cost a needless wake-up.
final class ReadReadiness: Sendable {
    private let ready = Atomic<Bool>(true)

    /// A read could complete now (sequentially consistent, as ``Engine/perform(_:wakeIf:)`` needs).
    var isReady: Bool { ready.load(ordering: .sequentiallyConsistent) }

    func set(_ value: Bool) { ready.store(value, ordering: .sequentiallyConsistent) }
}
