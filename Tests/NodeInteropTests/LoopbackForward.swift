import Foundation
import Glibc
import Locking
import Synchronization
import WireNet

/// What `wirenet --serve` does, through the library: every connection a ``TCPListener`` accepts on
/// the tunnel is joined to a new TCP connection to `127.0.0.1:<port>` in the root namespace, and
/// bytes are copied both ways (half-closes passed on).
///
/// The loopback side uses blocking sockets, so each direction runs on its own thread (never on the
/// cooperative pool, which has as many threads as cores); the tunnel side is awaited from there.
final class LoopbackForward: Sendable {
    let listener: TCPListener
    let localPort: UInt16
    /// Bytes copied from the loopback server into the tunnel (toward the peer).
    let bytesToTunnel = Atomic<Int>(0)
    /// Bytes copied from the tunnel to the loopback server.
    let bytesFromTunnel = Atomic<Int>(0)
    /// Connections accepted so far.
    let accepted = Atomic<Int>(0)
    private let failures = Lock<[String]>([])
    private let acceptTask = Lock<Task<Void, Never>?>(nil)

    init(listener: TCPListener, localPort: UInt16) {
        self.listener = listener
        self.localPort = localPort
        let task = Task { [self] in
            while let stream = try? await listener.accept() {
                accepted.add(1, ordering: .relaxed)
                start(stream)
            }
        }
        acceptTask.withLock { $0 = task }
    }

    /// Errors seen while copying (a reset, a refused loopback connect), for the test to report.
    var errors: [String] { failures.withLock { $0 } }

    func close() {
        listener.close()
        acceptTask.withLock { $0?.cancel() }
    }

    private func record(_ error: String) { failures.withLock { $0.append(error) } }

    private func start(_ stream: TCPStream) {
        let thread = Thread { [self] in
            let fd = connectLoopback(port: localPort)
            guard fd >= 0 else {
                record("connect 127.0.0.1:\(localPort): errno \(errno)")
                stream.abort()
                return
            }
            let finished = ArrivalCount()
            let done: @Sendable () -> Void = {
                if finished.arrive() == 2 {
                    Glibc.close(fd)
                    stream.close()
                }
            }
            let upstream = Thread { [self] in copyToTunnel(from: fd, to: stream); done() }
            upstream.name = "interop-fwd-up"
            upstream.start()
            copyFromTunnel(stream, to: fd)
            done()
        }
        thread.name = "interop-fwd-down"
        thread.start()
    }

    /// Loopback → tunnel, until the loopback side ends its stream (then half-close the tunnel side).
    private func copyToTunnel(from fd: Int32, to stream: TCPStream) {
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                if count < 0 { record("read from loopback: errno \(errno)") }
                do { try blockingAwait { try await stream.shutdownWrite() } } catch {
                    if count == 0 { record("tunnel shutdownWrite: \(error)") }
                }
                return
            }
            let chunk = Array(buffer[0..<count])
            do {
                try blockingAwait { try await stream.write(chunk) }
            } catch {
                record("write to tunnel: \(error)")
                shutdown(fd, Int32(SHUT_RDWR))
                return
            }
            bytesToTunnel.add(count, ordering: .relaxed)
        }
    }

    /// Tunnel → loopback, until the peer half-closes (then half-close the loopback side).
    private func copyFromTunnel(_ stream: TCPStream, to fd: Int32) {
        while true {
            let chunk: [UInt8]?
            do {
                chunk = try blockingAwait { try await stream.read() }
            } catch {
                record("read from tunnel: \(error)")
                shutdown(fd, Int32(SHUT_RDWR))
                return
            }
            guard let chunk else {
                shutdown(fd, Int32(SHUT_WR))
                return
            }
            guard writeAll(fd, chunk) else {
                record("write to loopback: errno \(errno)")
                stream.abort()
                return
            }
            bytesFromTunnel.add(chunk.count, ordering: .relaxed)
        }
    }
}

/// Runs `body` on the cooperative pool and waits for it on this (dedicated) thread.
func blockingAwait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let semaphore = DispatchSemaphore(value: 0)
    let result = ResultSlot<T>()
    Task {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        result.value.withLock { $0 = outcome }
        semaphore.signal()
    }
    semaphore.wait()
    return try result.value.withLock { $0! }.get()
}

/// Where an async call leaves its result for the thread waiting on it.
private final class ResultSlot<T: Sendable>: Sendable {
    let value = Lock<Result<T, any Error>?>(nil)
}

/// Counts threads that finished a shared job; the last one cleans up.
private final class ArrivalCount: Sendable {
    private let count = Atomic<Int>(0)
    /// How many have arrived, this one included.
    func arrive() -> Int { count.add(1, ordering: .acquiringAndReleasing).newValue }
}

/// A blocking TCP connection to 127.0.0.1:`port`, or -1 (errno set).
func connectLoopback(port: UInt16) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    address.sin_port = port.bigEndian
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard result == 0 else {
        let saved = errno
        Glibc.close(fd)
        errno = saved
        return -1
    }
    return fd
}

/// Writes every byte of `bytes` to the blocking socket `fd` (a closed peer is an error, not SIGPIPE).
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { raw in
            Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
        }
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += written
    }
    return true
}

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago (the kernel's pick).
func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw InteropFailure("socket: errno \(errno)") }
    defer { Glibc.close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw InteropFailure("bind: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}
