#if canImport(Glibc)
import Glibc
#endif
import Locking
import Logging
import WireNet

/// Copies bytes both ways between a host TCP connection and a tunnel ``TCPStream`` until both
/// directions have ended, then releases both.
///
/// - It runs on callbacks, with no task of its own: tunnel data is sent into the host socket on the
///   node's loop thread (`TCPStream.read(passingTo:then:)`), host data is read when the socket is
///   readable and queued to the loop (`TCPStream.write(_:then:)`); once the stack took a chunk, the
///   loop thread reads the next one itself while the socket has more. The forwarders register the
///   host socket with a reactor ``SocketReactor/driven(by:)`` the node, so its readiness, too, is
///   handled on the loop thread: no other thread wakes per chunk or per round trip. An idle
///   connection costs this object and a few closures parked in the loop's and the reactor's tables
///   — no suspended task, no async stack (issue 14's CLI memory target).
/// - Each direction takes its next chunk only once the last one is taken, so a slow receiver slows
///   the sender through both TCP windows and nothing queues in between (backpressure): tunnel bytes
///   the host socket did not take wait for it to become writable before the tunnel is read again.
/// - End of stream on one side becomes a half-close (FIN) on the other; the opposite direction goes
///   on until its own end, as a TCP proxy must for request/response protocols that half-close.
/// - An error on either side (reset, timeout, node closed), or ``abort()``, resets both sides and
///   ends both directions at once; nothing is left open. The host descriptor is closed only after
///   both directions stopped using it, so its number is never used after the kernel reuses it.
/// - Both sides run TCP keepalive (``ForwardingKeepalive``), so a peer that vanishes while the
///   splice is idle or half-closed ends it with a timeout instead of holding it forever.
/// - A host connection still in its handshake (``HostStream/open(to:reactor:)``) is waited for
///   first; if it fails, the tunnel side is reset, so the remote client sees the refusal.
final class TCPSplice: Sendable {
    private struct State {
        /// Directions (or the host handshake) still running; the splice ends when it reaches 0.
        var running = 2
        var failure: String?
        var onEnd: (@Sendable (_ succeeded: Bool) -> Void)?
    }

    private let host: HostStream
    private let tunnel: TCPStream
    private let hostConnecting: Bool
    private let logger: Logger
    private let state = Lock(State())

    /// `hostConnecting`: the host connection's handshake is still in progress (it was opened with
    /// ``HostStream/open(to:reactor:)`` and was not connected yet).
    init(host: HostStream, tunnel: TCPStream, hostConnecting: Bool = false, logger: Logger) {
        self.host = host
        self.tunnel = tunnel
        self.hostConnecting = hostConnecting
        self.logger = logger
    }

    /// Starts carrying bytes; `onEnd` runs once, after both sides are released, with true when
    /// both directions ended with a clean end of stream. It runs on whichever thread ended the
    /// splice (the loop's, the reactor's, or the caller's) and must not block.
    func start(onEnd: @escaping @Sendable (_ succeeded: Bool) -> Void) {
        state.withLock { $0.onEnd = onEnd }
        // A vanished peer on the host side ends the splice (the tunnel side has the node's keepalive).
        host.enableKeepalive(
            idle: ForwardingKeepalive.seconds(ForwardingKeepalive.idle),
            interval: ForwardingKeepalive.seconds(ForwardingKeepalive.interval),
            count: Int32(ForwardingKeepalive.count))
        guard hostConnecting else { return startDirections() }
        host.whenReady(.writable) { [self] result in
            let failure: (any Error)? = switch result {
            case .success: host.connectionError()
            case .failure(let error): error
            }
            if let failure {
                if fail("connect", failure) {
                    logger.info("cannot reach the served service", metadata: [
                        "from": "\(tunnel.remoteAddress)", "error": "\(failure)"])
                }
                // Neither direction started: both count as ended.
                directionEnded()
                return directionEnded()
            }
            startDirections()
        }
    }

    /// Runs the splice to its end from a task; cancelling the task aborts it.
    /// - Returns: true when both directions ended with a clean end of stream.
    func run() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                start { continuation.resume(returning: $0) }
            }
        } onCancel: {
            abort()
        }
    }

    /// Resets both sides and ends the splice (shutdown, or the forwarder's task was cancelled).
    func abort() {
        fail("splice", CancellationError())
    }

    private func startDirections() {
        readTunnel()
        readHost()
    }

    // MARK: tunnel → host

    /// Reads the tunnel; the loop thread sends what arrives into the host socket at once.
    private func readTunnel() {
        tunnel.read(passingTo: { [host] bytes in host.sendNow(bytes) }) { [self] result in
            switch result {
            case .success(nil):
                host.shutdownWrite()
                directionEnded()
            case .success(let rest?):
                if rest.isEmpty { readTunnel() } else { writeHost(rest, from: 0) }
            case .failure(let error):
                fail("tunnel → host", error)
                directionEnded()
            }
        }
    }

    /// Sends what the host socket's buffer did not take, as it drains, then reads the tunnel again.
    private func writeHost(_ bytes: [UInt8], from offset: Int) {
        host.whenReady(.writable) { [self] result in
            if case .failure(let error) = result {
                fail("tunnel → host", error)
                return directionEnded()
            }
            let sent = bytes.withUnsafeBytes { host.send(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            switch sent {
            case .bytes(let count) where offset + count == bytes.count:
                readTunnel()
            case .bytes(let count):
                writeHost(bytes, from: offset + count)
            case .wouldBlock:
                writeHost(bytes, from: offset)
            case .failed(let code):
                fail("tunnel → host", SystemError("write to \(host.remoteAddress.map(\.description) ?? "socket")", errno: code))
                directionEnded()
            }
        }
    }

    // MARK: host → tunnel

    /// Waits until the host socket is readable, then queues what it holds to the tunnel.
    private func readHost() {
        host.whenReady(.readable) { [self] result in
            if case .failure(let error) = result {
                fail("host → tunnel", error)
                return directionEnded()
            }
            receiveHost()
        }
    }

    /// Queues what the host socket holds to the tunnel, or waits for more (``readHost()``).
    ///
    /// Runs after a wait of the host socket's reactor, and on the loop thread as soon as the stack
    /// took the previous chunk: a sender that keeps the socket full (bulk) or ends its stream while a
    /// chunk is on its way then costs one `recv`, not a reactor wait (an `epoll_ctl` and a wake-up,
    /// of another thread when the reactor has its own) per chunk. When the socket is empty
    /// (request/response) the attempt costs one `recv` that finds nothing, and the reactor waits.
    private func receiveHost() {
        switch host.receiveNow(maximumLength: HostStream.defaultReadLength) {
        case .data(let chunk):
            tunnel.write(chunk) { [self] result in
                if case .failure(let error) = result {
                    fail("host → tunnel", error)
                    directionEnded()
                } else {
                    receiveHost()
                }
            }
        case .end:
            tunnel.shutdownWrite { [self] error in
                if let error { fail("host → tunnel", error) }
                directionEnded()
            }
        case .wouldBlock:
            readHost()
        case .failed(let code):
            fail("host → tunnel", SystemError("read from \(host.remoteAddress.map(\.description) ?? "socket")", errno: code))
            directionEnded()
        }
    }

    // MARK: ending

    /// Records the splice's first error (the other direction's is usually a consequence of it) and
    /// wakes whatever both directions wait on: their reads and writes end. True for the first error.
    @discardableResult
    private func fail(_ direction: String, _ error: any Error) -> Bool {
        let first = state.withLock { state -> Bool in
            guard state.failure == nil else { return false }
            state.failure = "\(direction): \(error)"
            return true
        }
        guard first else { return false }
        tunnel.abort()
        host.interrupt()
        return true
    }

    /// One direction stopped; the last one releases both sides and reports the end.
    private func directionEnded() {
        let ended = state.withLock { state -> (onEnd: (@Sendable (Bool) -> Void)?, failure: String?)? in
            state.running -= 1
            guard state.running == 0 else { return nil }
            defer { state.onEnd = nil }
            return (state.onEnd, state.failure)
        }
        guard let ended else { return }
        if let failure = ended.failure {
            logger.debug("connection ended with an error", metadata: [
                "host": "\(host.remoteAddress.map(\.description) ?? "?")", "tunnel": "\(tunnel.remoteAddress)",
                "error": "\(failure)",
            ])
            host.close(reset: true)
        } else {
            tunnel.close()
            host.close()
        }
        ended.onEnd?(ended.failure == nil)
    }
}
