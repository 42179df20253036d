import Foundation
import Glibc
import Wire
@testable import NetStack

/// A TUN device (IFF_TUN | IFF_NO_PI) opened by the test process.
final class TUNDevice {
    let fd: Int32
    let name: String

    /// linux/if_tun.h: TUNSETIFF = _IOW('T', 202, int); IFF_TUN = 0x0001; IFF_NO_PI = 0x1000.
    static let tunSetInterface: UInt = 0x4004_54CA
    static let flags: Int16 = 0x0001 | 0x1000

    init(name: String) throws {
        let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        // struct ifreq: 16-byte name, then the flags (short) at offset 16; 40 bytes in all.
        var request = [UInt8](repeating: 0, count: 40)
        for (i, byte) in name.utf8.prefix(15).enumerated() { request[i] = byte }
        request.withUnsafeMutableBytes { $0.storeBytes(of: Self.flags, toByteOffset: 16, as: Int16.self) }
        let result = request.withUnsafeMutableBytes { ioctl(fd, Self.tunSetInterface, $0.baseAddress!) }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        self.fd = fd
        self.name = name
    }

    deinit { close(fd) }
}

/// Runs an `IPStack` attached to a TUN device on its own thread: reads packets, runs timers, writes
/// output, and calls the registered applications each turn. Only that thread touches the stack.
final class TUNStackRunner: @unchecked Sendable {
    let stack: IPStack
    let device: TUNDevice
    private let lock = NSLock()
    private var applications: [(IPStack, NetInstant) -> Void] = []
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)
    private let clock = ContinuousClock()
    /// Loss and reordering applied in both directions inside the runner (for kernels without netem).
    private var lossProbability = 0.0
    private var reorderProbability = 0.0
    private var random = SeededRandom(seed: 6)
    private var held: [UInt8]? = nil

    func impair(loss: Double, reorder: Double) {
        lock.withLock {
            lossProbability = loss
            reorderProbability = reorder
        }
    }
    private let origin: ContinuousClock.Instant

    init(stack: IPStack, device: TUNDevice) {
        self.stack = stack
        self.device = device
        origin = clock.now
    }

    var now: NetInstant { NetInstant.zero + (clock.now - origin) }

    /// Adds an application step; it runs on the stack's thread every turn.
    func add(_ application: @escaping (IPStack, NetInstant) -> Void) {
        lock.withLock { applications.append(application) }
    }

    func start() {
        let thread = Thread { [self] in loop() }
        thread.start()
    }

    func stop() {
        lock.withLock { stopping = true }
        finished.wait()
    }

    private func writePacket(_ packet: UnsafeRawBufferPointer) {
        var written = write(device.fd, packet.baseAddress, packet.count)
        if written < 0 && errno == EAGAIN {
            var pfd = pollfd(fd: device.fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&pfd, 1, 10)
            written = write(device.fd, packet.baseAddress, packet.count)
        }
    }

    private func loop() {
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer {
            input.deallocate()
            output.deallocate()
            finished.signal()
        }
        while true {
            let (stop, apps, loss, reorder) = lock.withLock {
                (stopping, applications, lossProbability, reorderProbability)
            }
            if stop { return }
            var now = self.now
            for _ in 0..<512 {
                let n = read(device.fd, input.baseAddress, input.count)
                if n <= 0 { break }
                if random.chance(loss) { continue }
                stack.receive(UnsafeRawBufferPointer(rebasing: input.prefix(n)), now: now)
            }
            now = self.now
            if let deadline = stack.nextDeadline, deadline <= now { stack.handleTimers(now: now) }
            stack.pollEvents { _, _ in }
            for app in apps { app(stack, now) }
            while let n = stack.nextOutgoingPacket(into: output, now: now) {
                if random.chance(loss) { continue }
                if held == nil && random.chance(reorder) {
                    held = Array(UnsafeRawBufferPointer(rebasing: output.prefix(n)))
                    continue
                }
                writePacket(UnsafeRawBufferPointer(rebasing: output.prefix(n)))
                if let packet = held {
                    held = nil
                    packet.withUnsafeBytes { writePacket($0) }
                }
            }
            if let packet = held {
                held = nil
                packet.withUnsafeBytes { writePacket($0) }
            }
            var timeout: Int32 = 5
            if let deadline = stack.nextDeadline {
                let ms = (deadline - self.now) / 1_000_000
                timeout = Int32(max(0, min(Int64(timeout), ms)))
            }
            var pfd = pollfd(fd: device.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, timeout)
        }
    }
}

/// Serves `GET` with a deterministic body of `size` bytes (HTTP/1.1, Connection: close).
final class PatternHTTPServer {
    struct Client {
        var socket: TCPSocketHandle
        var request: [UInt8] = []
        var header: [UInt8]? = nil
        var headerSent = 0
        var body: PatternSource
    }
    let listener: TCPListenerHandle
    let size: Int
    let seed: UInt64
    private var clients: [Client] = []
    private var buffer = [UInt8](repeating: 0, count: 4096)

    init(stack: IPStack, port: UInt16, size: Int, seed: UInt64) throws {
        listener = try stack.listen(port: port)
        self.size = size
        self.seed = seed
    }

    func step(_ stack: IPStack, _ now: NetInstant) {
        while let socket = try? stack.accept(listener) {
            clients.append(Client(socket: socket, body: PatternSource(total: size, seed: seed)))
        }
        var i = 0
        while i < clients.count {
            if serve(&clients[i], stack, now) { clients.remove(at: i) } else { i += 1 }
        }
    }

    /// Returns true when the client is finished.
    private func serve(_ client: inout Client, _ stack: IPStack, _ now: NetInstant) -> Bool {
        guard let status = stack.status(of: client.socket) else { return true }
        if status.state == .closed {
            stack.close(client.socket, now: now)
            return true
        }
        if client.header == nil {
            let n = buffer.withUnsafeMutableBytes { (try? stack.receive(client.socket, into: $0)) ?? 0 }
            client.request += buffer.prefix(n)
            guard client.request.count > 3,
                client.request.indices.dropFirst(3).contains(where: {
                    client.request[$0 - 3] == 13 && client.request[$0 - 2] == 10 && client.request[$0 - 1] == 13
                        && client.request[$0] == 10
                })
            else { return false }
            client.header = Array("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(size)\r\nConnection: close\r\n\r\n".utf8)
        }
        if let header = client.header, client.headerSent < header.count {
            client.headerSent += header.withUnsafeBytes { raw in
                (try? stack.send(client.socket, UnsafeRawBufferPointer(rebasing: raw[client.headerSent...]))) ?? 0
            }
            if client.headerSent < header.count { return false }
        }
        if !client.body.isFinished {
            let socket = client.socket
            client.body.feed { (try? stack.send(socket, $0)) ?? 0 }
        }
        if client.body.isFinished {
            // Drain anything the client still sends, then close (FIN after the body).
            _ = buffer.withUnsafeMutableBytes { (try? stack.receive(client.socket, into: $0)) ?? 0 }
            stack.close(client.socket, now: now)
            return true
        }
        return false
    }
}

/// Downloads `path` from an HTTP server with one GET and hashes the body.
final class HTTPDownload: @unchecked Sendable {
    private let lock = NSLock()
    private var socket: TCPSocketHandle?
    private var requestSent = false
    private var header: [UInt8] = []
    private var headerDone = false
    private var hash = SHA256Stream()
    private var _bodyBytes = 0
    private var _digest: [UInt8]? = nil
    private var _failure: String? = nil
    let remote: IPEndpoint
    let path: String
    private var lastStatusStorage = ""
    var lastStatus: String { lock.withLock { lastStatusStorage } }

    init(remote: IPEndpoint, path: String) {
        self.remote = remote
        self.path = path
    }

    var result: (digest: [UInt8]?, bytes: Int, failure: String?) { lock.withLock { (_digest, _bodyBytes, _failure) } }

    func step(_ stack: IPStack, _ now: NetInstant) {
        if lock.withLock({ _digest != nil || _failure != nil }) { return }
        if socket == nil {
            do { socket = try stack.connect(to: remote, now: now) } catch {
                lock.withLock { _failure = "connect: \(error)" }
                return
            }
        }
        guard let socket, let status = stack.status(of: socket) else { return }
        let counters = stack.counters
        lock.withLock {
            lastStatusStorage = "\(status) counters: \(counters)"
        }
        if status.state == .established && !requestSent {
            let request = Array("GET \(path) HTTP/1.0\r\nHost: \(remote)\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { try? stack.send(socket, $0) }
            requestSent = true
        }
        while true {
            let n = (try? stack.receive(socket) { chunk in
                var used = 0
                if !self.headerDone {
                    for byte in chunk {
                        used += 1
                        self.header.append(byte)
                        if self.header.count >= 4 && self.header.suffix(4).elementsEqual([13, 10, 13, 10]) {
                            self.headerDone = true
                            break
                        }
                    }
                }
                let rest = UnsafeRawBufferPointer(rebasing: chunk[used...])
                if self.headerDone && rest.count > 0 {
                    self.hash.update(rest)
                    self.lock.withLock { self._bodyBytes += rest.count }
                }
                return chunk.count
            }) ?? 0
            if n == 0 { break }
        }
        if status.isAtEndOfStream || (status.state == .closed && status.error == nil) {
            let digest = hash.finish()
            lock.withLock { _digest = digest }
            stack.close(socket, now: now)
        } else if let error = status.error {
            lock.withLock { _failure = "connection error: \(error)" }
            stack.close(socket, now: now)
        }
    }
}

/// Echoes every datagram back to its sender.
final class UDPEcho {
    let socket: UDPSocketHandle
    private var buffer = [UInt8](repeating: 0, count: 65536)
    init(stack: IPStack, port: UInt16) throws { socket = try stack.bindUDP(port: port) }

    func step(_ stack: IPStack, _ now: NetInstant) {
        while let got = buffer.withUnsafeMutableBytes({ try? stack.receiveUDP(socket, into: $0) }) {
            buffer.withUnsafeBytes { try? stack.sendUDP(socket, to: got.from, UnsafeRawBufferPointer(rebasing: $0.prefix(got.length))) }
        }
    }
}
