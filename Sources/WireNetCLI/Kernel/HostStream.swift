import CWireNetShims
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A connected stream socket of the host's kernel (TCP, or unix-domain for the control socket),
/// non-blocking, with async reads and writes that wait through the ``SocketReactor``.
///
/// One task may read while another writes. ``interrupt()`` wakes both (they end with an error or
/// end-of-stream); ``close(reset:)`` releases the descriptor and must come after the last call has
/// returned, so a descriptor number is never used after the kernel has handed it out again.
final class HostStream: Sendable {
    /// The socket descriptor.
    let descriptor: Int32
    /// The far end, for messages.
    let remoteAddress: SocketAddress?
    private let reactor: SocketReactor
    private let registration: SocketReactor.Registration
    private let released = Atomic<Bool>(false)

    /// Largest chunk ``read(maximumLength:)`` returns by default: one socket-buffer's worth.
    static let defaultReadLength = 64 * 1024

    /// Takes ownership of a connected descriptor (non-blocking, as ``HostListener`` and
    /// ``connect(to:reactor:)`` create them). The descriptor is closed if registration fails.
    init(adopting descriptor: Int32, remoteAddress: SocketAddress?, reactor: SocketReactor) throws(SystemError) {
        do {
            registration = try reactor.register(descriptor)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.remoteAddress = remoteAddress
        self.reactor = reactor
        if remoteAddress?.family != AF_UNIX { setNoDelay(descriptor) }
    }

    /// Opens a connection to `address`, waiting for the handshake.
    static func connect(to address: SocketAddress, reactor: SocketReactor) async throws -> HostStream {
        let (stream, connected) = try open(to: address, reactor: reactor)
        if !connected {
            do {
                try await reactor.wait(for: .writable, on: stream.registration)
            } catch {
                stream.close()
                throw error
            }
            if let error = stream.connectionError() {
                stream.close()
                throw error
            }
        }
        return stream
    }

    /// Starts a connection to `address` without waiting: `connected` is false while the handshake
    /// is still going on. Then wait until the socket is writable (``whenReady(_:_:)``) and ask
    /// ``connectionError()`` how it went.
    static func open(to address: SocketAddress, reactor: SocketReactor) throws(SystemError) -> (stream: HostStream, connected: Bool) {
        let descriptor = socket(address.family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemError("open a socket to connect to \(address)", errno: errno) }
        var result: Int32
        repeat {
            result = address.withSockaddr { Glibc.connect(descriptor, $0, $1) }
        } while result < 0 && errno == EINTR
        if result < 0 && errno != EINPROGRESS {
            let code = errno
            Glibc.close(descriptor)
            throw SystemError("connect to \(address)", errno: code)
        }
        let stream = try HostStream(adopting: descriptor, remoteAddress: address, reactor: reactor)
        // A connection to a local service (a --serve target on loopback) has usually finished its
        // handshake by the time connect() returns EINPROGRESS: the kernel runs both ends' segments
        // before it returns to us. Look before waiting, which costs the reactor thread's wake-up. A
        // refusal shows the same way (writable, with an error), so ask how it ended.
        guard result < 0 else { return (stream, true) }
        guard isWritableNow(descriptor) else { return (stream, false) }
        if let error = stream.connectionError() {
            stream.close()
            throw error
        }
        return (stream, true)
    }

    /// How a connection from ``open(to:reactor:)`` ended its handshake: nil once it is connected,
    /// or why it failed (`SO_ERROR`). Ask once the socket is writable.
    func connectionError() -> SystemError? {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length) < 0 { code = errno }
        return code == 0 ? nil : SystemError("connect to \(remoteAddress.map(\.description) ?? "socket")", errno: code)
    }

    /// Calls `callback` on the reactor thread once the socket is ready for `interest` (or has failed:
    /// the next system call tells), or with ``SocketShutDown`` after ``interrupt()`` — at once on
    /// the calling thread if it was before. One reader and one writer may wait at a time. `callback`
    /// must not block.
    func whenReady(_ interest: SocketReactor.Interest, _ callback: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        reactor.whenReady(interest, on: registration, callback)
    }

    /// Reads what has arrived, up to `maximumLength` bytes, waiting until something has.
    ///
    /// - Returns: the bytes, or `nil` at the end of the stream (the peer shut down its side, or
    ///   ``interrupt()`` shut down ours).
    /// - Throws: ``SystemError`` (a reset, for instance); ``SocketShutDown`` after ``interrupt()``.
    func read(maximumLength: Int = HostStream.defaultReadLength) async throws -> [UInt8]? {
        while true {
            var code: Int32 = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: maximumLength) { buffer, count in
                let received = recv(descriptor, buffer.baseAddress, maximumLength, 0)
                if received >= 0 { count = received } else { count = 0; code = errno }
            }
            if code == 0 { return chunk.isEmpty ? nil : chunk }
            if isWouldBlock(code) {
                try await reactor.wait(for: .readable, on: registration)
            } else if code != EINTR {
                throw SystemError("read from \(remoteAddress.map(\.description) ?? "socket")", errno: code)
            }
        }
    }

    /// What one non-blocking `recv` gave.
    enum Received {
        case data([UInt8])
        case end
        case wouldBlock
        case failed(Int32)
    }

    /// One non-blocking `recv` of up to `maximumLength` bytes (retried on `EINTR`).
    func receiveNow(maximumLength: Int) -> Received {
        while true {
            var code: Int32 = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: maximumLength) { buffer, count in
                let received = recv(descriptor, buffer.baseAddress, maximumLength, Int32(MSG_DONTWAIT))
                if received >= 0 { count = received } else { count = 0; code = errno }
            }
            if code == 0 { return chunk.isEmpty ? .end : .data(chunk) }
            if isWouldBlock(code) { return .wouldBlock }
            if code != EINTR { return .failed(code) }
        }
    }

    /// One non-blocking `send` of `bytes` from any thread (the node's loop thread, for a chunk that
    /// arrived through the tunnel); returns how many bytes the kernel took (0 when its buffer is full
    /// or the socket failed: the caller's ``write(_:)`` of the rest then waits or reports the error).
    func sendNow(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        while true {
            let sent = Glibc.send(descriptor, base, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if sent >= 0 { return sent }
            if errno != EINTR { return 0 }
        }
    }

    /// What one non-blocking `send` did.
    enum Sent {
        case bytes(Int)
        case wouldBlock
        case failed(Int32)
    }

    /// One non-blocking `send` of `bytes` (retried on `EINTR`), telling a full buffer from a failure.
    func send(_ bytes: UnsafeRawBufferPointer) -> Sent {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return .bytes(0) }
        while true {
            let sent = Glibc.send(descriptor, base, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if sent >= 0 { return .bytes(sent) }
            let code = errno
            if isWouldBlock(code) { return .wouldBlock }
            if code != EINTR { return .failed(code) }
        }
    }

    /// Writes all of `bytes`, waiting while the socket's send buffer is full (backpressure).
    func write(_ bytes: [UInt8]) async throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { raw in
                Glibc.send(descriptor, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent >= 0 {
                offset += sent
                continue
            }
            let code = errno
            if isWouldBlock(code) {
                try await reactor.wait(for: .writable, on: registration)
            } else if code != EINTR {
                throw SystemError("write to \(remoteAddress.map(\.description) ?? "socket")", errno: code)
            }
        }
    }

    /// Turns on TCP keepalive (RFC 1122 §4.2.3.6): after `idle` without traffic the kernel probes
    /// every `interval` and resets the connection after `count` unanswered probes, so a peer that
    /// vanished ends the reads and writes waiting on this socket with an error.
    func enableKeepalive(idle: Int32, interval: Int32, count: Int32) {
        for (level, option, value) in [
            (SOL_SOCKET, SO_KEEPALIVE, 1), (Int32(IPPROTO_TCP), TCP_KEEPIDLE, idle),
            (Int32(IPPROTO_TCP), TCP_KEEPINTVL, interval), (Int32(IPPROTO_TCP), TCP_KEEPCNT, count),
        ] {
            var value = value
            _ = setsockopt(descriptor, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Half-close: sends FIN once the queued bytes are out; reading goes on.
    func shutdownWrite() {
        _ = shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Shuts the socket down both ways and wakes any task waiting on it. The descriptor stays open
    /// until ``close(reset:)``.
    func interrupt() {
        _ = shutdown(descriptor, Int32(SHUT_RDWR))
        reactor.deregister(registration)
    }

    /// Releases the descriptor; with `reset`, the peer gets RST instead of FIN (`SO_LINGER` 0).
    /// Calling it again does nothing.
    func close(reset: Bool = false) {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        reactor.deregister(registration)
        if reset {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }
        Glibc.close(descriptor)
    }

    deinit { close() }
}

/// Whether the socket is writable (or has failed) at once, without waiting: poll() with a zero timeout.
private func isWritableNow(_ descriptor: Int32) -> Bool {
    var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
    return poll(&entry, 1, 0) == 1 && entry.revents != 0
}

/// Turns off Nagle's algorithm: a forwarder passes on what it has at once, or it adds latency that
/// the application on the other side already decided against.
private func setNoDelay(_ descriptor: Int32) {
    var on: Int32 = 1
    _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
}
