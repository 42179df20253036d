#if canImport(Glibc)
import Glibc
#endif
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
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let connection = withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(descriptor, $0, &length) }
            }
            if connection >= 0 {
                _ = fcntl(connection, F_SETFL, fcntl(connection, F_GETFL) | O_NONBLOCK)
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                let remote = withUnsafeBytes(of: &storage) { SocketAddress($0.baseAddress!, length: length) }
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

    /// Stops accepting: a waiting ``accept()`` returns nil. The port stays bound until ``close()``.
    func interrupt() {
        interrupted.store(true, ordering: .releasing)
        reactor.deregister(registration)
    }

    /// Releases the socket; call it once no ``accept()`` is running. Calling it again does nothing.
    func close() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        interrupt()
        Glibc.close(descriptor)
    }

    deinit { close() }
}
