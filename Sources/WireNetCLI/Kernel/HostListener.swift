import CWireNetShims
#if canImport(Glibc)
import Glibc
#endif
import Locking
import Synchronization

/// A listening stream socket of the host's kernel (TCP, or unix-domain for the control socket)
/// whose ``accept()`` waits through the ``SocketReactor``.
final class HostListener: Sendable {
    /// The bound address (with the kernel's port when port 0 was asked for).
    let localAddress: SocketAddress
    private let descriptor: Int32
    private let reactor: SocketReactor
    private let registration: SocketReactor.Registration
    private let interrupted = Atomic<Bool>(false)
    /// Registrations with other reactors, for ``acceptEach(on:_:until:)`` calls in progress.
    private let extraRegistrations = Lock<[(reactor: SocketReactor, registration: SocketReactor.Registration)]>([])
    private let released = Atomic<Bool>(false)

    /// Connections that completed the handshake but are not accepted yet.
    static let defaultBacklog: Int32 = 128

    /// Binds and listens on `address`; `SO_REUSEADDR` lets a restarted forwarder take its port back
    /// from connections in TIME-WAIT.
    ///
    /// - Throws: ``SystemError`` naming the address (`EADDRINUSE` when the port is taken).
    init(address: SocketAddress, backlog: Int32 = HostListener.defaultBacklog, reactor: SocketReactor) throws(SystemError) {
        let descriptor = socket(address.family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemError("open a socket to listen on \(address)", errno: errno) }
        func fail(_ operation: String) -> SystemError {
            let error = SystemError(operation, errno: errno)
            Glibc.close(descriptor)
            return error
        }
        if address.family != AF_UNIX {
            var on: Int32 = 1
            _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        guard address.withSockaddr({ bind(descriptor, $0, $1) }) == 0 else { throw fail("listen on \(address)") }
        guard listen(descriptor, backlog) == 0 else { throw fail("listen on \(address)") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        localAddress = bound == 0 ? (withUnsafeBytes(of: &storage) { SocketAddress($0.baseAddress!, length: length) } ?? address) : address
        do {
            registration = try reactor.register(descriptor)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.reactor = reactor
    }

    /// The next connection, waiting until one arrives; `nil` once ``interrupt()`` was called.
    ///
    /// - Throws: ``SystemError`` for a failed `accept` (e.g. `EMFILE`); the listener stays usable.
    func accept() async throws -> HostStream? {
        while !interrupted.load(ordering: .acquiring) {
            let (connection, remote) = acceptNow()
            if connection >= 0 {
                return try HostStream(adopting: connection, remoteAddress: remote, reactor: reactor)
            }
            let code = errno
            if isWouldBlock(code) {
                do {
                    try await reactor.wait(for: .readable, on: registration)
                } catch is SocketShutDown {
                    return nil
                }
            } else if code == ECONNABORTED || code == EINTR {
                continue
            } else if interrupted.load(ordering: .acquiring) {
                return nil
            } else {
                throw SystemError("accept on \(localAddress)", errno: code)
            }
        }
        return nil
    }

    /// Hands every connection to `handler` as it arrives — all that wait, at each wake-up — until
    /// ``interrupt()``; then `completion` runs with nil. A failed `accept` (e.g. `EMFILE`) or
    /// registration ends it with the error instead; the listener stays usable and may be called
    /// again. No task wakes per connection: `handler` must return quickly and must not block. Only
    /// one ``accept()`` or `acceptEach` may run at a time.
    ///
    /// `reactor` (default: the listener's own) waits for the connections, runs `handler` (those
    /// already waiting: on the calling thread) and takes the accepted streams' registrations: with a
    /// reactor ``SocketReactor/driven(by:)`` a node, a connection is accepted, dialled and spliced on
    /// the node's loop thread.
    func acceptEach(on reactor: SocketReactor? = nil, _ handler: @escaping @Sendable (HostStream) -> Void,
                    until completion: @escaping @Sendable ((any Error)?) -> Void) {
        guard let other = reactor, other !== self.reactor else {
            return acceptEach(waitingOn: self.reactor, registration, handler, until: completion)
        }
        let registration: SocketReactor.Registration
        do {
            registration = try other.register(descriptor)
        } catch {
            return completion(error)
        }
        extraRegistrations.withLock { $0.append((other, registration)) }
        let release: @Sendable () -> Void = { [self] in
            other.deregister(registration)
            extraRegistrations.withLock { $0.removeAll { $0.reactor === other && $0.registration == registration } }
        }
        // An interrupt() that ran before the registration was listed did not deregister it.
        if interrupted.load(ordering: .acquiring) {
            release()
            return completion(nil)
        }
        acceptEach(waitingOn: other, registration, handler) { error in
            release()
            completion(error)
        }
    }

    private func acceptEach(waitingOn reactor: SocketReactor, _ registration: SocketReactor.Registration,
                            _ handler: @escaping @Sendable (HostStream) -> Void,
                            until completion: @escaping @Sendable ((any Error)?) -> Void) {
        while !interrupted.load(ordering: .acquiring) {
            let (connection, remote) = acceptNow()
            if connection >= 0 {
                let stream: HostStream
                do {
                    stream = try HostStream(adopting: connection, remoteAddress: remote, reactor: reactor)
                } catch {
                    return completion(error)
                }
                handler(stream)
                continue
            }
            let code = errno
            if isWouldBlock(code) {
                reactor.whenReady(.readable, on: registration) { [self] result in
                    switch result {
                    case .success: acceptEach(waitingOn: reactor, registration, handler, until: completion)
                    case .failure(let error) where error is SocketShutDown: completion(nil)
                    case .failure(let error): completion(error)
                    }
                }
                return
            } else if code == ECONNABORTED || code == EINTR {
                continue
            } else if interrupted.load(ordering: .acquiring) {
                break
            } else {
                return completion(SystemError("accept on \(localAddress)", errno: code))
            }
        }
        completion(nil)
    }

    /// One non-blocking `accept4` (the new descriptor non-blocking and close-on-exec, without the
    /// two `fcntl` calls per connection); the descriptor, or -1 with `errno` set.
    private func acceptNow() -> (descriptor: Int32, remote: SocketAddress?) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let connection = withUnsafeMutablePointer(to: &storage) { wirenet_accept_nonblocking(descriptor, $0, &length) }
        guard connection >= 0 else { return (connection, nil) }
        return (connection, withUnsafeBytes(of: &storage) { SocketAddress($0.baseAddress!, length: length) })
    }

    /// Stops accepting: a waiting ``accept()`` returns nil, a running ``acceptEach(_:until:)``
    /// completes with nil. The port stays bound until ``close()``.
    func interrupt() {
        interrupted.store(true, ordering: .releasing)
        reactor.deregister(registration)
        for (other, registration) in extraRegistrations.withLock({ $0 }) { other.deregister(registration) }
    }

    /// Releases the socket; call it once no ``accept()`` is running. Calling it again does nothing.
    func close() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        interrupt()
        Glibc.close(descriptor)
    }

    deinit { close() }
}
