import Foundation
import Glibc
import NetTestSupport
import Testing
import Wire
@testable import NetStack

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// Whether this kernel has the netem qdisc (probed on the loopback of a scratch namespace).
private let netemAvailable: Bool = {
    guard tunAvailable, let namespace = try? NetworkNamespace(tag: "netem") else { return false }
    defer { namespace.destroy() }
    return (try? namespace.exec(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "loss", "1%"])) != nil
}()

private let tunAvailable = Shell.isRoot && FileManager.default.fileExists(atPath: "/dev/net/tun")
    && Shell.has("curl") && Shell.has("ping") && Shell.has("nc") && Shell.has("python3") && Shell.has("tc")

/// Linux's TCP/IP (curl, python http.server, ping, nc) against the stack, with no WireGuard: the stack
/// is attached to a TUN device whose link lives in a network namespace the test creates. Addresses:
/// Linux side 100.64.6.1 / fd7a:115c:a1e0:6::1, the stack 100.64.6.2 / fd7a:115c:a1e0:6::2.
@Suite("Interop with Linux over TUN", .serialized, .enabled(if: tunAvailable, "needs root, /dev/net/tun, curl, ping, nc, python3, tc"))
final class TUNInteropTests {
    static let downloadSize = 100 * 1024 * 1024
    static let downloadSeed: UInt64 = 61
    let namespace: NetworkNamespace
    let device: TUNDevice
    let runner: TUNStackRunner
    let directory: URL

    init() throws {
        namespace = try NetworkNamespace(tag: "tun")
        let name = "wnt\(getpid() % 100_000)"
        device = try TUNDevice(name: name)
        try Shell.run(["ip", "link", "set", name, "netns", namespace.name])
        try namespace.exec(["ip", "addr", "add", "100.64.6.1/24", "dev", name])
        try namespace.exec(["ip", "-6", "addr", "add", "fd7a:115c:a1e0:6::1/64", "dev", name, "nodad"])
        try namespace.exec(["ip", "link", "set", name, "mtu", "1420", "up"])
        var config = IPStackConfiguration(addresses: [IPAddress("100.64.6.2")!, IPAddress("fd7a:115c:a1e0:6::2")!])
        config.mtu = 1420
        config.tcp.timeWaitDuration = .seconds(1)
        let stack = IPStack(configuration: config)
        runner = TUNStackRunner(stack: stack, device: device)
        let http = try PatternHTTPServer(stack: stack, port: 80, size: Self.downloadSize, seed: Self.downloadSeed)
        let echo = try UDPEcho(stack: stack, port: 7)
        runner.add { http.step($0, $1) }
        runner.add { echo.step($0, $1) }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wirenet-tun-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        runner.start()
    }

    deinit {
        runner.stop()
        namespace.destroy()
        try? FileManager.default.removeItem(at: directory)
    }

    var expectedDownloadDigest: String {
        var source = PatternSource(total: Self.downloadSize, seed: Self.downloadSeed)
        source.feed { $0.count }
        return hex(source.digest())
    }

    /// curl (Linux TCP) downloads 100 MB from the stack's HTTP server; sha256 compared.
    func curlDownload(_ url: String) throws {
        let output = try namespace.exec(["sh", "-c", "curl -sS -g --max-time 600 '\(url)' | sha256sum"])
        #expect(output.hasPrefix(expectedDownloadDigest), "curl \(url): \(output)")
    }

    /// The stack downloads a 20 MB file from Python's http.server in the namespace; sha256 compared.
    func stackDownloadsFromPython(host: String, remote: IPAddress) throws {
        let file = directory.appendingPathComponent("blob.bin")
        if !FileManager.default.fileExists(atPath: file.path) {
            try Shell.run(["sh", "-c", "head -c 20971520 /dev/urandom > '\(file.path)'"])
        }
        let expected = try Shell.run(["sha256sum", file.path]).prefix(64)
        // Child processes inherit the test runner's blocked signal mask (SIGTERM included), which would
        // make BackgroundProcess.stop() wait forever: unblock before running http.server.
        let script = "import signal, runpy, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
            + "sys.argv = ['http.server', '8000', '--bind', '\(host)', '--directory', '\(directory.path)']; "
            + "runpy.run_module('http.server', run_name='__main__')"
        let server = try namespace.spawn(["python3", "-c", script])
        defer { server.stop() }
        var result: (digest: [UInt8]?, bytes: Int, failure: String?) = (nil, 0, nil)
        var lastStatus = ""
        for _ in 0..<20 {
            let download = HTTPDownload(remote: IPEndpoint(remote, 8000), path: "/blob.bin")
            runner.add { download.step($0, $1) }
            for _ in 0..<1200 {
                result = download.result
                if result.digest != nil || result.failure != nil { break }
                usleep(50_000)
            }
            lastStatus = download.lastStatus
            // Retry only while the server is not listening yet (connection refused).
            guard result.failure?.contains("connectionRefused") == true else { break }
            usleep(250_000)
        }
        #expect(result.bytes == 20 * 1024 * 1024, "\(result.failure ?? "") \(lastStatus) \(server.output)")
        #expect(result.digest.map(hex) == String(expected))
    }

    @Test("ping and ping -6 get echo replies from the stack")
    func ping() throws {
        let v4 = try namespace.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", "100.64.6.2"])
        #expect(v4.contains("3 received"))
        let v6 = try namespace.exec(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd7a:115c:a1e0:6::2"])
        #expect(v6.contains("3 received"))
    }

    @Test("nc -u exchanges datagrams with a UDP echo socket on the stack (IPv4 and IPv6)")
    func netcatUDP() throws {
        let v4 = try namespace.exec(["sh", "-c", "echo hello-wirenet-4 | nc -u -w 2 100.64.6.2 7"])
        #expect(v4.contains("hello-wirenet-4"))
        let v6 = try namespace.exec(["sh", "-c", "echo hello-wirenet-6 | nc -6 -u -w 2 fd7a:115c:a1e0:6::2 7"])
        #expect(v6.contains("hello-wirenet-6"))
    }

    @Test("curl downloads 100 MB from the stack (IPv4 and IPv6), sha256 checked")
    func curlDownloads() throws {
        try curlDownload("http://100.64.6.2/")
        try curlDownload("http://[fd7a:115c:a1e0:6::2]/")
    }

    @Test(
        "iperf3 -c completes against a server on the stack (a relay to iperf3 -s on loopback), both directions",
        .enabled(if: Shell.has("iperf3"), "needs iperf3"))
    func iperf3AgainstTheStack() throws {
        // The stack terminates iperf3's control and data connections on 100.64.6.2:5201 and relays
        // them to an iperf3 server the test runs on 127.0.0.1.
        let serverPort: UInt16 = 15201 + UInt16(getpid() % 1000)
        let relay = TCPRelay(port: 5201, targetPort: serverPort)
        runner.add { relay.step($0, $1) }
        let server = try Shell.spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", "\(serverPort)"])
        defer { server.stop() }
        for _ in 0..<50 {
            if (try? Shell.run(["sh", "-c", "ss -ltn | grep -q ':\(serverPort) '"])) != nil { break }
            usleep(100_000)
        }
        for direction in [[], ["-R"]] {
            let output = try namespace.exec(["iperf3", "-c", "100.64.6.2", "-p", "5201", "-t", "2", "-f", "m"] + direction)
            #expect(output.contains("sender") && output.contains("receiver"), "\(output)")
            #expect(output.contains("iperf Done."), "\(output)")
            print("iperf3 \(direction.isEmpty ? "upload" : "download") through the stack:",
                  output.split(separator: "\n").filter { $0.contains("receiver") }.joined())
        }
        #expect(relay.relayedConnections >= 4)  // a control and a data connection per run
    }

    @Test("The stack downloads from Python's http.server, sha256 checked")
    func stackDownloads() throws {
        try stackDownloadsFromPython(host: "100.64.6.1", remote: IPAddress("100.64.6.1")!)
    }

    @Test(
        "With netem loss 2% and reordering on the link: curl and the stack's download still complete intact",
        .enabled(if: netemAvailable, "the kernel has no netem qdisc"))
    func transfersUnderNetem() throws {
        let name = device.name
        try namespace.exec(["tc", "qdisc", "add", "dev", name, "root", "netem", "loss", "2%", "delay", "1ms", "reorder", "25%", "50%"])
        try curlDownload("http://100.64.6.2/")
        try stackDownloadsFromPython(host: "100.64.6.1", remote: IPAddress("100.64.6.1")!)
        let ping = try namespace.exec(["sh", "-c", "ping -c 20 -i 0.05 -W 1 100.64.6.2 || true"])
        #expect(ping.contains("received"))
    }

    @Test("With 2% loss and 5% reordering in both directions (in the runner): curl and the stack's download complete intact")
    func transfersUnderInjectedLoss() throws {
        runner.impair(loss: 0.02, reorder: 0.05)
        try curlDownload("http://100.64.6.2/")
        try stackDownloadsFromPython(host: "100.64.6.1", remote: IPAddress("100.64.6.1")!)
        let echo = try namespace.exec(["sh", "-c", "for i in 1 2 3 4 5; do echo ping-$i; done | nc -u -w 2 100.64.6.2 7 || true"])
        #expect(echo.contains("ping-"))
    }
}
