import Foundation
import NetTestSupport

/// What the real-peer tailnet tests need: root (as the other interop suites), Go (for the test
/// control server), curl and python3, and the built `wirenet` with `libwirenetcontrol.so` beside it
/// (`swift build --build-tests` and `scripts/build-control-helper.sh`, which scripts/test.sh runs).
enum TailnetLab {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static var helperBuilt: Bool {
        guard let wirenet = WirenetBinary.path else { return false }
        let directory = URL(fileURLWithPath: wirenet).deletingLastPathComponent().path
        return FileManager.default.fileExists(atPath: directory + "/libwirenetcontrol.so")
    }

    static var available: Bool {
        Shell.isRoot && ["go", "curl", "/usr/bin/python3"].allSatisfy(Shell.has) && WirenetBinary.isBuilt && helperBuilt
    }

    static var arkitektInstalled: Bool {
        (try? Shell.run(["python3", "-c", "import arkitekt_mesh"])) != nil
    }

    /// A TCP/UDP port nobody listens on now (the kernel's pick for port 0).
    static func freePort(udp: Bool = false) -> UInt16 {
        let fd = socket(AF_INET, udp ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Polls `condition` every 100 ms until it holds or `limit` passes.
    static func eventually(within limit: Duration = .seconds(15), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }
}

/// `scripts/testcontrol.sh`: the Go test control server, in the foreground, on a loopback port.
final class TestControlServer: @unchecked Sendable {
    let process: WirenetProcess
    let url: String
    let listen: String

    /// Starts the server and waits for `ready URL` (the first run builds it).
    init(scratch: ScratchDirectory, arguments: [String], listen: String = "127.0.0.1:0") async throws {
        self.listen = listen
        process = try WirenetProcess(["\(TailnetLab.repository)/scripts/testcontrol.sh", "--listen", listen] + arguments,
                                     executable: "/bin/bash", scratch: scratch)
        guard let line = await process.firstLine(within: .seconds(240)), line.hasPrefix("ready ") else {
            throw WirenetProcessError("testcontrol did not start: \(process.stderr.suffix(2000))")
        }
        url = String(line.dropFirst("ready ".count))
    }

    /// `host:port` of the URL (to restart on the same port).
    var hostPort: String { String(url.dropFirst("http://".count)) }

    /// Replaces the policy live (`POST /test/policy`, a JSON list of tailcfg.FilterRule).
    func setPolicy(_ json: String) throws {
        _ = try Shell.run(["curl", "-sf", "-X", "POST", "--data-binary", json, url + "/test/policy"])
    }

    func kill() {
        process.signal(SIGKILL)
    }
}

/// One `wirenet up` joined to the tailnet.
final class TailnetNode: @unchecked Sendable {
    let process: WirenetProcess
    let hostname: String
    let controlSocket: String
    /// The `ready` line's addresses.
    private(set) var addresses: [String] = []

    init(_ hostname: String, control: TestControlServer, keyFile: String?, state: String, scratch: ScratchDirectory,
         extra: [String] = []) throws {
        self.hostname = hostname
        controlSocket = scratch.path("\(hostname).sock")
        var arguments = ["up", "--control-url", control.url, "--hostname", hostname, "--state", state,
                         "--control-socket", controlSocket]
        if let keyFile { arguments += ["--authkey-file", keyFile] }
        process = try WirenetProcess(arguments + extra, scratch: scratch)
    }

    /// Waits for `ready <addresses>`; throws with the node's standard error otherwise.
    func ready() async throws {
        guard let line = await process.firstLine(within: .seconds(30)), line.hasPrefix("ready ") else {
            throw WirenetProcessError("\(hostname) did not get ready: \(process.stderr.suffix(3000))")
        }
        addresses = line.dropFirst("ready ".count).split(separator: " ").map(String.init)
    }

    /// The first IPv4 address, without the prefix length.
    var ipv4: String { String(addresses.first { !$0.contains(":") }?.split(separator: "/").first ?? "") }

    /// `wirenet status --json`, decoded.
    func status() throws -> [String: Any] {
        let text = try Shell.run([WirenetBinary.path!, "status", "--json", "--socket", controlSocket])
        return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    /// The peers' host names in `status --json`.
    func peerHostNames() throws -> [String] {
        ((try status()["peers"] as? [[String: Any]]) ?? []).compactMap { $0["hostName"] as? String }
    }
}

/// python3's http.server over a directory, on a loopback port; returns once it answers.
func startHTTPServer(directory: String, port: UInt16, scratch: ScratchDirectory) async throws -> WirenetProcess {
    let server = try WirenetProcess(["-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", directory],
                                    executable: "/usr/bin/python3", scratch: scratch)
    let serving = await TailnetLab.eventually {
        (try? Shell.run(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/"])) != nil
    }
    guard serving else { throw WirenetProcessError("http.server did not start: \(server.stderr.suffix(500))") }
    return server
}

/// A UDP echo server on a loopback port (python3).
func startUDPEcho(port: UInt16, scratch: ScratchDirectory) throws -> WirenetProcess {
    let script = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", \(port)))
        while True:
            data, address = s.recvfrom(65535)
            s.sendto(data, address)
        """
    return try WirenetProcess(["-c", script], executable: "/usr/bin/python3", scratch: scratch)
}

/// Sends `count` datagrams to 127.0.0.1:`port` and returns how many distinct echoes came back.
func udpEchoRoundTrips(port: UInt16, count: Int = 20) throws -> Int {
    let script = """
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        seen = set()
        for i in range(\(count)):
            s.sendto(b"datagram-%d" % i + bytes(1000), ("127.0.0.1", \(port)))
            try:
                data, _ = s.recvfrom(65535)
                seen.add(data[:16])
            except socket.timeout:
                pass
        print(len(seen))
        """
    let output = try Shell.run(["python3", "-c", script])
    return Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
}

/// The sha256 of what `curl` fetches (empty when curl fails), with `options` such as --max-time.
func fetchSHA256(_ url: String, options: [String] = ["--max-time", "60"]) -> String {
    let command = "curl -sf " + options.joined(separator: " ") + " '\(url)' | sha256sum; exit ${PIPESTATUS[0]}"
    guard let output = try? Shell.run(["bash", "-c", command]) else { return "" }
    return String(output.prefix(64))
}

func sha256(ofFile path: String) throws -> String {
    String(try Shell.run(["sha256sum", path]).prefix(64))
}

/// A file of `megabytes` random MiB.
func makeRandomFile(_ path: String, megabytes: Int) throws {
    _ = try Shell.run(["bash", "-c", "head -c \(megabytes * 1_048_576) /dev/urandom > '\(path)'"])
}
