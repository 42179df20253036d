import CSodium
import Foundation
import NetTestSupport

/// SHA-256 (libsodium) of everything fed to it, for byte-exact transfer checks.
struct SHA256Digest {
    private var state = crypto_hash_sha256_state()
    init() { crypto_hash_sha256_init(&state) }
    mutating func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { raw in
            _ = crypto_hash_sha256_update(&state, raw.bindMemory(to: UInt8.self).baseAddress, UInt64(raw.count))
        }
    }
    mutating func finish() -> String {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&state, &out)
        return out.map { String(format: "%02x", $0) }.joined()
    }

    /// The hex digest of a file's contents.
    static func ofFile(_ url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var digest = SHA256Digest()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { digest.update(chunk) }
        return digest.finish()
    }
}

/// A temporary directory holding one file of random bytes, served by the HTTP servers below.
final class RandomFile: @unchecked Sendable {
    let directory: URL
    let name = "blob"
    let size: Int
    let sha256: String
    var url: URL { directory.appendingPathComponent(name) }

    init(megabytes: Int) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("wirenet-interop-files-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        size = megabytes << 20
        let path = directory.appendingPathComponent(name).path
        try Shell.run(["sh", "-c", "head -c \(size) /dev/urandom > '\(path)'"])
        sha256 = try SHA256Digest.ofFile(directory.appendingPathComponent(name))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

/// `python3 -m http.server` serving a directory, in the root namespace or inside the peer's.
final class HTTPServer: @unchecked Sendable {
    let address: String
    let port: UInt16
    private let process: BackgroundProcess

    /// Starts the server and waits until it accepts connections.
    ///
    /// - Parameter namespace: where to run it; `nil` is the root namespace (then `address` should
    ///   be 127.0.0.1, the only address tests may use there).
    init(serving directory: URL, address: String, port: UInt16, in namespace: NetworkNamespace? = nil) throws {
        self.address = address
        self.port = port
        let command = ["/usr/bin/python3", "-m", "http.server", "\(port)", "--bind", address,
                       "--directory", directory.path]
        process = try namespace.map { try $0.spawn(command) } ?? Shell.spawn(command)
        try poll("http.server on \(address):\(port)", timeout: 10) {
            guard process.isRunning else { throw InteropFailure("http.server exited: \(process.output)") }
            return try isListening(port: port, in: namespace)
        }
    }

    func stop() { process.stop() }
    deinit { process.stop() }
}

/// `iperf3 -s` on 127.0.0.1 in the root namespace.
final class IPerfServer: @unchecked Sendable {
    let port: UInt16
    private let process: BackgroundProcess

    init() throws {
        port = try freeLoopbackPort()
        process = try Shell.spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", "\(port)"])
        try poll("iperf3 -s on 127.0.0.1:\(port)", timeout: 10) {
            guard process.isRunning else { throw InteropFailure("iperf3 -s exited: \(process.output)") }
            return try isListening(port: port, in: nil)
        }
    }

    deinit { process.stop() }
}

/// Whether a TCP socket listens on `port` (checked with `ss`, so no probe connection disturbs the server).
func isListening(port: UInt16, in namespace: NetworkNamespace?) throws -> Bool {
    let command = ["ss", "-Hltn", "sport = :\(port)"]
    let output = try namespace.map { try $0.exec(command) } ?? Shell.run(command)
    return !output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
}

/// A UDP echo server on port `port` of every address in `namespace` (IPv4 and IPv6): one process,
/// so stopping it leaves no per-datagram children behind (as `socat …,fork PIPE` would).
final class UDPEcho: @unchecked Sendable {
    let port: UInt16
    private let process: BackgroundProcess

    init(port: UInt16, in namespace: NetworkNamespace) throws {
        self.port = port
        let program = """
            import socket, sys
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", int(sys.argv[1])))
            while True:
                data, sender = s.recvfrom(65535)
                s.sendto(data, sender)
            """
        process = try namespace.spawn(["/usr/bin/python3", "-c", program, "\(port)"])
        try poll("UDP echo on port \(port)", timeout: 10) {
            guard process.isRunning else { throw InteropFailure("UDP echo exited: \(process.output)") }
            return !(try namespace.exec(["ss", "-Hlun", "sport = :\(port)"])).isEmpty
        }
    }

    deinit { process.stop() }
}
