import Foundation
import Locking
import Testing
@testable import UDPTransport

/// A received datagram copied out of its buffer, for comparisons.
struct Copied: Equatable {
    var bytes: [UInt8]
    var source: UDPEndpoint
    var localAddress: UDPEndpoint.Address?
}

/// Collects log lines from a transport.
final class LogLines: Sendable {
    private let lines = Lock<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var sink: @Sendable (String) -> Void { { line in self.lines.withLock { $0.append(line) } } }
}

extension UDPTransport.Backend: CustomStringConvertible {
    public var description: String {
        switch self {
        case .automatic: "automatic"
        case .ioUring: "io_uring"
        case .portable: "portable"
        }
    }
}

enum Fixture {
    /// nil when `received` equals `expected` byte for byte, else a short description of the first difference.
    static func mismatch(_ received: [[UInt8]], _ expected: [[UInt8]]) -> String? {
        if received == expected { return nil }
        if received.count != expected.count { return "received \(received.count) datagrams, expected \(expected.count)" }
        let index = received.indices.first { received[$0] != expected[$0] } ?? 0
        return "datagram \(index) differs: \(received[index].count) bytes, expected \(expected[index].count)"
    }

    static let backends: [UDPTransport.Backend] = [.ioUring, .portable]

    static func configuration(_ backend: UDPTransport.Backend, log: LogLines? = nil,
                              gso: Bool = true, gro: Bool = true) -> UDPTransport.Configuration {
        var configuration = UDPTransport.Configuration(port: 0, backend: backend, gso: gso, gro: gro)
        configuration.sendBufferCount = 256
        configuration.receiveBufferCount = 64
        if let log { configuration.log = log.sink }
        return configuration
    }

    /// Deterministic payload `index` of `size` bytes (differs per index and per byte).
    static func payload(_ index: Int, size: Int) -> [UInt8] {
        (0 ..< size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index &* 7 &+ 1) }
    }

    /// Queues `payloads` to `destination` in one batch and sends it.
    static func send(_ payloads: [[UInt8]], from transport: UDPTransport, to destination: UDPEndpoint) {
        var batch = SendBatch(capacity: payloads.count)
        for payload in payloads {
            guard var buffer = transport.makeSendBuffer() else {
                preconditionFailure("send pool exhausted in a test")
            }
            payload.withUnsafeBytes { _ = buffer.setDatagram($0) }
            batch.append(buffer, to: destination)
        }
        transport.send(&batch)
    }

    /// Receives until `count` datagrams arrived or `rounds` waits of 100 ms passed without any.
    static func receive(_ count: Int, on transport: UDPTransport, rounds: Int = 30,
                        errors: inout [DatagramError]) throws -> [Copied] {
        var batch = ReceiveBatch()
        var copies: [Copied] = []
        var idle = 0
        repeat {
            try transport.receive(into: &batch, timeout: count == 0 ? .zero : .milliseconds(100))
            if batch.isEmpty { idle += 1 }
            for datagram in batch.datagrams {
                copies.append(Copied(bytes: Array(UnsafeRawBufferPointer(datagram.bytes)), source: datagram.source,
                                     localAddress: datagram.localAddress))
            }
            errors.append(contentsOf: batch.errors)
        } while copies.count < count && idle < rounds
        transport.recycle(&batch)
        return copies
    }

    static func receive(_ count: Int, on transport: UDPTransport, rounds: Int = 30) throws -> [Copied] {
        var errors: [DatagramError] = []
        return try receive(count, on: transport, rounds: rounds, errors: &errors)
    }

    /// Sends `messages` with `send` in rounds of 100, each closed by a marker (a 33-byte WireGuard
    /// transport datagram, which every filter lets through), and receives after each round until
    /// its marker arrived (datagrams from one socket on loopback keep their order), so that the
    /// socket buffer never overflows. Returns what arrived, markers left out.
    static func deliver(_ messages: [[UInt8]], to transport: UDPTransport,
                        send: ([UInt8]) -> Void) throws -> [[UInt8]] {
        var arrived: [[UInt8]] = []
        var batch = ReceiveBatch()
        defer { transport.recycle(&batch) }
        for (round, start) in stride(from: 0, to: messages.count, by: 100).enumerated() {
            for message in messages[start..<min(start + 100, messages.count)] { send(message) }
            var marker = [UInt8](repeating: 0xEE, count: 33)
            marker[0...3] = [4, 0, 0, 0]
            marker[32] = UInt8(truncatingIfNeeded: round)
            send(marker)
            var idle = 0
            roundLoop: while idle < 30 {
                try transport.receive(into: &batch, timeout: .milliseconds(100))
                if batch.isEmpty { idle += 1 }
                for datagram in batch.datagrams {
                    let bytes = Array(UnsafeRawBufferPointer(datagram.bytes))
                    if bytes == marker { break roundLoop }
                    arrived.append(bytes)
                }
            }
            #expect(idle < 30, "round \(round): its marker never arrived")
        }
        return arrived
    }

    /// Receives (and drops datagrams) until an error matching `predicate` is reported.
    static func waitForError(on transport: UDPTransport, rounds: Int = 30,
                             _ predicate: (DatagramError) -> Bool) throws -> DatagramError? {
        var batch = ReceiveBatch()
        defer { transport.recycle(&batch) }
        for _ in 0 ..< rounds {
            try transport.receive(into: &batch, timeout: .milliseconds(100))
            if let match = batch.errors.first(where: predicate) { return match }
        }
        return nil
    }

    /// A UDP port on loopback that nobody listens on (bound, read, closed).
    static func closedPort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                _ = bind(fd, raw, length)
                _ = getsockname(fd, raw, &length)
            }
        }
        close(fd)
        return UInt16(bigEndian: address.sin_port)
    }

    /// Descriptors of this process whose link matches `kind` ("io_uring", "eventfd", "eventpoll").
    static func openDescriptors(_ kind: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter { entry in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)")) ?? ""
            return target.contains(kind)
        }.count
    }

    /// True when some UDP socket of this machine is bound to `port` (/proc/net/udp and udp6).
    static func portIsBound(_ port: UInt16) -> Bool {
        let hexPort = String(format: ":%04X ", port)
        for table in ["/proc/net/udp", "/proc/net/udp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if fields.count > 1, fields[1].hasSuffix(hexPort.dropLast()) { return true }
            }
        }
        return false
    }
}

/// A plain blocking IPv4 UDP socket on 127.0.0.1, for checking what goes over the wire.
final class PlainSocket {
    let fd: CInt
    let port: UInt16

    init() {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                _ = bind(fd, raw, length)
                _ = getsockname(fd, raw, &length)
            }
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }

    var endpoint: UDPEndpoint { .loopbackIPv4(port: port) }

    /// One datagram, or nil after the 2 s receive timeout.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return count < 0 ? nil : Array(buffer.prefix(count))
    }

    func send(_ bytes: [UInt8], to port: UInt16) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = port.bigEndian
        withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                _ = bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, raw, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }
}
