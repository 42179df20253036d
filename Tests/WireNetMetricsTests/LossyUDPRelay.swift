#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Locking
import Synchronization

/// A UDP relay on loopback between a client node and a server node that drops every `dropEvery`-th
/// large datagram from the client (a WireGuard transport message carrying a full TCP segment; the
/// handshake messages and the ACKs are small and always pass). Deterministic: the same datagrams of
/// a transfer are dropped on every run.
///
/// The client's peer endpoint is ``clientFacingPort``; the relay sends on to the server from a
/// socket of its own, and the server's replies (learned endpoint: that socket) go back to the client.
final class LossyUDPRelay: @unchecked Sendable {
    /// Datagrams at least this long count as data (a full-sized segment is ~1450 bytes on the wire).
    static let dataSize = 1000

    let clientFacingPort: UInt16
    private let clientFacing: Int32
    private let serverFacing: Int32
    private let dropEvery: Int
    private let stopping = Atomic<Bool>(false)
    private let counts = Lock<(data: Int, dropped: Int)>((0, 0))
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    /// Large datagrams dropped so far.
    var dropped: Int { counts.withLock { $0.dropped } }
    /// Large datagrams seen from the client so far (dropped ones included).
    var dataDatagrams: Int { counts.withLock { $0.data } }

    init(serverPort: UInt16, dropEvery: Int) throws {
        self.dropEvery = dropEvery
        let clientFacing = try Self.boundSocket(port: 0)
        let serverFacing = try Self.boundSocket(port: 0)
        self.clientFacing = clientFacing
        self.serverFacing = serverFacing
        var server = Self.loopback(port: serverPort)
        let connected = withUnsafePointer(to: &server) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(serverFacing, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw RelayError.socket("connect", errno) }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(clientFacing, $0, &length) }
        }
        clientFacingPort = UInt16(bigEndian: bound.sin_port)
        let thread = Thread { [self] in run() }
        thread.name = "lossy-udp-relay"
        self.thread = thread
        thread.start()
    }

    /// Stops the relay and closes its sockets.
    func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
        close(clientFacing)
        close(serverFacing)
    }

    deinit { stop() }

    private func run() {
        defer { finished.signal() }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var client = sockaddr_in()
        var haveClient = false
        var fds = [pollfd(fd: clientFacing, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: serverFacing, events: Int16(POLLIN), revents: 0)]
        while !stopping.load(ordering: .relaxed) {
            guard poll(&fds, 2, 20) > 0 else { continue }
            if fds[0].revents & Int16(POLLIN) != 0 {
                var from = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let n = buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &from) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(clientFacing, raw.baseAddress, raw.count, 0, $0, &length) }
                    }
                }
                if n > 0 {
                    client = from
                    haveClient = true
                    var drop = false
                    if n >= Self.dataSize {
                        drop = counts.withLock { counts in
                            counts.data += 1
                            guard counts.data % dropEvery == 0 else { return false }
                            counts.dropped += 1
                            return true
                        }
                    }
                    if !drop { _ = buffer.withUnsafeBytes { send(serverFacing, $0.baseAddress, n, 0) } }
                }
            }
            if fds[1].revents & Int16(POLLIN) != 0 {
                let n = buffer.withUnsafeMutableBytes { recv(serverFacing, $0.baseAddress, $0.count, 0) }
                if n > 0 && haveClient {
                    _ = buffer.withUnsafeBytes { raw in
                        withUnsafePointer(to: &client) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                sendto(clientFacing, raw.baseAddress, n, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                            }
                        }
                    }
                }
            }
        }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    private static func boundSocket(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw RelayError.socket("socket", errno) }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw RelayError.socket("bind", errno)
        }
        return fd
    }

    enum RelayError: Error {
        case socket(String, Int32)
    }
}
