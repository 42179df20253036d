import CEventPoll
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM as an async event: a handler writes to an eventfd (`write` is
/// async-signal-safe), and ``wait()`` reads it through the ``SocketReactor``.
///
/// Install it before starting anything, so a signal that arrives during start-up is seen once
/// start-up is done rather than killing the process half-way.
final class TerminationSignals: Sendable {
    private let descriptor: Int32
    private let reactor: SocketReactor
    private let registration: SocketReactor.Registration

    /// Installs the handlers and makes sure some thread accepts the signals (a parent may have
    /// blocked them). SIGPIPE is ignored: a socket that closes under a write is an error value, not
    /// a reason to die.
    init(reactor: SocketReactor) throws(SystemError) {
        let descriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard descriptor >= 0 else { throw SystemError("create an eventfd for signals", errno: errno) }
        do {
            registration = try reactor.register(descriptor)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.reactor = reactor
        signalEventDescriptor = descriptor
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            var one: UInt64 = 1
            _ = Glibc.write(signalEventDescriptor, &one, MemoryLayout<UInt64>.size)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM] {
            sigaction(signal, &action, nil)
            sigaddset(&set, signal)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
        // A parent may have started us with the signals blocked (Foundation's `Process` passes on
        // its dispatch thread's mask), and threads inherit masks: keep one thread that surely
        // accepts them, so the handler always has somewhere to run.
        try HostThread.start(name: "wirenet-signals") {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGINT)
            sigaddset(&set, SIGTERM)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            while true { pause() }
        }
    }

    /// Suspends until SIGINT or SIGTERM arrives (returns at once if one already did).
    func wait() async throws {
        while true {
            var count: UInt64 = 0
            if Glibc.read(descriptor, &count, MemoryLayout<UInt64>.size) == MemoryLayout<UInt64>.size, count > 0 {
                return
            }
            try await reactor.wait(for: .readable, on: registration)
        }
    }
}

/// The eventfd the signal handler writes to (a C handler cannot capture context).
nonisolated(unsafe) private var signalEventDescriptor: Int32 = -1
