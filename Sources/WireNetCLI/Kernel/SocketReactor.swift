import CEventPoll
import CWireNetShims
#if canImport(Glibc)
import Glibc
#endif
import Locking
import WireNet

/// Waits for host sockets to become readable or writable on behalf of async code: one thread blocks
/// in `epoll_wait` and resumes the tasks that wait.
///
/// A reactor ``driven(by:)`` a node has no thread of its own: the node's loop thread waits on its
/// epoll instance together with the tunnel's UDP socket and runs the waiters itself, so that a chunk
/// read from a host socket goes into the tunnel's stack without waking another thread (issue 13).
/// The TCP forwarders use it. With the io_uring transport the epoll instance is polled inside the
/// ring (`UDPTransport.watch`), so the loop's wait stays one `io_uring_enter`; an earlier version
/// moved that wait to `ppoll` on the ring and the epoll instance, which first stalled round trips
/// (perf/results/2026-12-02T0617Z.md, the lost wake-up fixed by `UDPTransport.hasPendingInput`)
/// and then measured no better than this reactor's own thread (perf/results/2026-12-02T1038Z-ab.md).
///
/// Sockets are non-blocking, and callers try the system call first and wait only after `EAGAIN`, so
/// a busy connection rarely involves the reactor. Each registration is armed one-shot
/// (`EPOLLONESHOT`) with the union of what its waiters want, and re-armed while a waiter remains;
/// events carry a token rather than the descriptor, so an event for a descriptor that was closed
/// (and whose number was reused) wakes nobody.
final class SocketReactor: Sendable {
    /// What a waiter waits for.
    enum Interest: Sendable { case readable, writable }

    /// A descriptor registered with the reactor.
    struct Registration: Hashable, Sendable {
        fileprivate let token: UInt64
        let descriptor: Int32
    }

    private struct Waiter {
        /// Who is told: a suspended task, or a callback (``whenReady(_:on:_:)``).
        enum Wake {
            case task(CheckedContinuation<Void, any Error>)
            case callback(@Sendable (Result<Void, any Error>) -> Void)

            func resume() {
                switch self {
                case .task(let continuation): continuation.resume()
                case .callback(let callback): callback(.success(()))
                }
            }

            func resume(throwing error: any Error) {
                switch self {
                case .task(let continuation): continuation.resume(throwing: error)
                case .callback(let callback): callback(.failure(error))
                }
            }
        }

        var id: UInt64
        var wake: Wake
    }

    private struct Entry {
        var descriptor: Int32
        var reader: Waiter?
        var writer: Waiter?
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextToken: UInt64 = 1
        var nextWaiter: UInt64 = 1
    }

    private let epoll: Int32
    private let state = Lock(State())

    /// The process's reactor, started on first use and kept for the life of the process.
    static func shared() throws(SystemError) -> SocketReactor {
        try sharedReactor.withLock { reactor throws(SystemError) in
            if let reactor { return reactor }
            let created = try SocketReactor()
            reactor = created
            return created
        }
    }

    /// A reactor with its own thread.
    private init() throws(SystemError) {
        epoll = try Self.makeEpoll()
        // On failure the reactor is released, and `deinit` closes the epoll instance.
        try HostThread.start(name: "wirenet-reactor") { [self] in runLoop() }
    }

    private init(epoll: Int32) {
        self.epoll = epoll
    }

    /// A reactor without a thread, driven by `node`'s loop thread
    /// (``Node/addLoopPollSource(_:onReadable:)``): callbacks of ``whenReady(_:on:_:)`` run on the
    /// loop thread, and tasks waiting in ``wait(for:on:)`` are resumed from it. It works while the
    /// node runs; once the node has closed nothing wakes its waiters but ``deregister(_:)`` (which
    /// ``HostStream/interrupt()`` and ``HostStream/close(reset:)`` call). Each call makes a new one.
    ///
    /// - Throws: ``SystemError`` when no epoll instance can be created; ``NodeError`` when the node
    ///   is not running.
    static func driven(by node: Node) throws -> SocketReactor {
        let reactor = SocketReactor(epoll: try makeEpoll())
        try node.addLoopPollSource(reactor.epoll) { [reactor] in reactor.dispatchReady() }
        return reactor
    }

    private static func makeEpoll() throws(SystemError) -> Int32 {
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SystemError("create an epoll instance", errno: errno) }
        return epoll
    }

    deinit { Glibc.close(epoll) }

    /// Adds a descriptor (not armed until somebody waits).
    func register(_ descriptor: Int32) throws(SystemError) -> Registration {
        try state.withLock { state throws(SystemError) in
            let token = state.nextToken
            state.nextToken &+= 1
            var event = epoll_event()
            event.events = EPOLLONESHOT.rawValue
            event.data.u64 = token
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) == 0 else {
                throw SystemError("register descriptor \(descriptor) with epoll", errno: errno)
            }
            state.entries[token] = Entry(descriptor: descriptor)
            return Registration(token: token, descriptor: descriptor)
        }
    }

    /// Removes a registration: waiting tasks throw ``SocketShutDown``, as do later waits. The
    /// descriptor itself stays open (its owner closes it). Calling it again does nothing.
    func deregister(_ registration: Registration) {
        let removed = state.withLock { state -> Entry? in
            guard let entry = state.entries.removeValue(forKey: registration.token) else { return nil }
            var event = epoll_event()
            _ = epoll_ctl(epoll, EPOLL_CTL_DEL, entry.descriptor, &event)
            return entry
        }
        removed?.reader?.wake.resume(throwing: SocketShutDown())
        removed?.writer?.wake.resume(throwing: SocketShutDown())
    }

    /// Suspends until the descriptor is ready for `interest` (or reports an error or hang-up, which
    /// the next system call will tell). One reader and one writer may wait at a time.
    ///
    /// - Throws: ``SocketShutDown`` after ``deregister(_:)``; `CancellationError` when the task is cancelled.
    func wait(for interest: Interest, on registration: Registration) async throws {
        let id = makeWaiterID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Checked under the state's lock (in `add`), which the cancellation handler takes too:
                // a cancellation either finds the waiter parked or is seen here.
                add(Waiter(id: id, wake: .task(continuation)), for: interest, on: registration, unlessCancelled: true)
            }
        } onCancel: {
            let cancelled = state.withLock { state -> Waiter? in
                guard var entry = state.entries[registration.token] else { return nil }
                var taken: Waiter?
                if entry.reader?.id == id { taken = entry.reader; entry.reader = nil }
                if entry.writer?.id == id { taken = entry.writer; entry.writer = nil }
                state.entries[registration.token] = entry
                return taken
            }
            cancelled?.wake.resume(throwing: CancellationError())
        }
    }

    /// Like ``wait(for:on:)`` without a task: `callback` runs on the reactor thread once the
    /// descriptor is ready, or with the error (``SocketShutDown`` after ``deregister(_:)``; at once on
    /// the calling thread when it cannot wait). A forwarder's idle connection waits as this closure,
    /// not as a suspended task. `callback` must not block.
    func whenReady(_ interest: Interest, on registration: Registration,
                   _ callback: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        add(Waiter(id: makeWaiterID(), wake: .callback(callback)), for: interest, on: registration)
    }

    private func makeWaiterID() -> UInt64 {
        state.withLock { state -> UInt64 in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
    }

    /// Parks `waiter` and arms the registration for it, or resumes it with the reason it cannot wait.
    /// `unlessCancelled`: fail with `CancellationError` if the calling task is cancelled.
    private func add(_ waiter: Waiter, for interest: Interest, on registration: Registration, unlessCancelled: Bool = false) {
        let failure = state.withLock { state -> (any Error)? in
            guard var entry = state.entries[registration.token] else { return SocketShutDown() }
            if unlessCancelled && Task.isCancelled { return CancellationError() }
            switch interest {
            case .readable:
                guard entry.reader == nil else { return SystemError("wait to read", errno: EBUSY) }
                entry.reader = waiter
            case .writable:
                guard entry.writer == nil else { return SystemError("wait to write", errno: EBUSY) }
                entry.writer = waiter
            }
            if let error = arm(entry, token: registration.token) {
                return error
            }
            state.entries[registration.token] = entry
            return nil
        }
        if let failure { waiter.wake.resume(throwing: failure) }
    }

    /// Arms the registration for what its waiters want; called with the state locked.
    private func arm(_ entry: Entry, token: UInt64) -> SystemError? {
        var event = epoll_event()
        event.events = EPOLLONESHOT.rawValue
        if entry.reader != nil { event.events |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if entry.writer != nil { event.events |= EPOLLOUT.rawValue }
        event.data.u64 = token
        guard epoll_ctl(epoll, EPOLL_CTL_MOD, entry.descriptor, &event) == 0 else {
            return SystemError("arm descriptor \(entry.descriptor) in epoll", errno: errno)
        }
        return nil
    }

    private func runLoop() {
        let capacity = 128
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        var ready: [Waiter] = []
        ready.reserveCapacity(capacity * 2)
        while true {
            let count = epoll_wait(epoll, events, Int32(capacity), -1)
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            collect(events, count: Int(count), into: &ready)
            for waiter in ready { waiter.wake.resume() }
            ready.removeAll(keepingCapacity: true)
        }
    }

    /// A reactor ``driven(by:)`` a node, on the loop thread: takes every event that is ready without
    /// waiting and runs their waiters. All of them: the node's io_uring transport reports the epoll
    /// instance when it becomes readable, not again while it stays readable.
    private func dispatchReady() {
        let capacity = 64
        withUnsafeTemporaryAllocation(of: epoll_event.self, capacity: capacity) { events in
            var ready: [Waiter] = []
            while true {
                let count = epoll_wait(epoll, events.baseAddress!, Int32(capacity), 0)
                guard count > 0 else { return }
                collect(events.baseAddress!, count: Int(count), into: &ready)
                for waiter in ready { waiter.wake.resume() }
                ready.removeAll(keepingCapacity: true)
                if count < capacity { return }
            }
        }
    }

    /// Takes the waiters `events` wake out of their entries (re-arming entries whose other waiter
    /// still waits) and appends them to `ready`, to be resumed once the lock is released.
    private func collect(_ events: UnsafeMutablePointer<epoll_event>, count: Int, into ready: inout [Waiter]) {
        let failure = (EPOLLERR.rawValue | EPOLLHUP.rawValue)
        state.withLock { state in
            for index in 0..<count {
                let token = events[index].data.u64
                let flags = events[index].events
                guard var entry = state.entries[token] else { continue }
                let failed = flags & failure != 0
                if let reader = entry.reader, failed || flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0 {
                    ready.append(reader)
                    entry.reader = nil
                }
                if let writer = entry.writer, failed || flags & EPOLLOUT.rawValue != 0 {
                    ready.append(writer)
                    entry.writer = nil
                }
                if entry.reader != nil || entry.writer != nil {
                    if arm(entry, token: token) != nil {
                        // Cannot wait any more: let the waiters retry their call and see the error.
                        if let reader = entry.reader { ready.append(reader) }
                        if let writer = entry.writer { ready.append(writer) }
                        entry.reader = nil
                        entry.writer = nil
                    }
                }
                state.entries[token] = entry
            }
        }
    }
}

private let sharedReactor = Lock<SocketReactor?>(nil)

/// A plain OS thread for work that blocks in the kernel (the reactor's `epoll_wait`), which must
/// never happen on a Swift concurrency thread.
enum HostThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts `body` on a new detached thread named `name` (at most 15 bytes are kept).
    static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let context = Unmanaged.passRetained(Body { wirenet_set_thread_name(name); body() }).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            body.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SystemError("start thread \(name)", errno: result)
        }
        pthread_detach(thread)
    }
}
