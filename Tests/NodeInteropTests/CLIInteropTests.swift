import Foundation
import NetTestSupport
import Testing
import WireGuard

/// The `wirenet` command against wireguard-go (issue #7's CLI items): `wirenet up` runs as a child
/// process in the root namespace with `--serve` and `--forward` rules; curl and iperf3 run on both
/// sides. Same topology as ``KernelPeer`` (underlay 10.250.7.0/24, node 100.64.7.1, kernel
/// 100.64.7.2), hence part of the same serialized suite: two suites would collide on the /24.
extension NodeInteropTests {
    @Test(.enabled(if: WirenetBinary.isBuilt, "needs the built wirenet executable"))
    func wirenetServeAndForwardCarryCurlAndIperf3BothWays() async throws {
        let nodeKey = PrivateKey()
        let peerKey = PrivateKey()
        let nodePort = try freeLoopbackPort()
        let peer = try KernelPeer(privateKey: peerKey, nodeKey: nodeKey.publicKey, nodePort: nodePort)
        let namespace = peer.namespace

        // What the rules lead to: HTTP and iperf3 servers on this host's loopback (for --serve) and
        // inside the namespace (for --forward).
        let file = try RandomFile(megabytes: 100)
        let localHTTP = try HTTPServer(serving: file.directory, address: "127.0.0.1", port: try freeLoopbackPort())
        defer { localHTTP.stop() }
        let innerHTTP = try HTTPServer(serving: file.directory, address: "::", port: 8000, in: namespace)
        defer { innerHTTP.stop() }
        let localIperf = try IPerfServer()
        let innerIperf = try namespace.spawn(["iperf3", "-s", "-p", "5202"])
        defer { innerIperf.stop() }
        try poll("iperf3 -s in the namespace", timeout: 10) { try isListening(port: 5202, in: namespace) }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("wirenet-cli-interop-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let config = scratch.appendingPathComponent("wn0.conf").path
        try """
        [Interface]
        PrivateKey = \(nodeKey.base64)
        Address = 100.64.7.1/32, fd7a:115c:a1e0:7::1/128
        ListenPort = \(nodePort)

        [Peer]
        PublicKey = \(peerKey.publicKey)
        Endpoint = \(KernelPeer.underlayPeer):\(KernelPeer.defaultListenPort)
        AllowedIPs = \(KernelPeer.tunnelV4)/32, \(KernelPeer.tunnelV6)/128
        """.write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)  // it holds a private key; `wirenet up` warns otherwise

        let forwardHTTP = try freeLoopbackPort()
        let forwardIperf = try freeLoopbackPort()
        let wirenet = try Shell.spawn([
            WirenetBinary.path!, "up", "--config", config,
            "--control-socket", scratch.appendingPathComponent("wn0.sock").path,
            "--serve", "tcp:8080=127.0.0.1:\(localHTTP.port)",
            "--serve", "tcp:5201=127.0.0.1:\(localIperf.port)",
            "--forward", "tcp:127.0.0.1:\(forwardHTTP)=\(KernelPeer.tunnelV4):8000",
            "--forward", "tcp:127.0.0.1:\(forwardIperf)=\(KernelPeer.tunnelV4):5202",
        ])
        defer { wirenet.stop() }
        try poll("wirenet up to print ready", timeout: 30) {
            guard wirenet.isRunning else { throw InteropFailure("wirenet up exited: \(wirenet.output)") }
            return wirenet.output.contains("ready 100.64.7.1/32 fd7a:115c:a1e0:7::1/128")
        }

        // The node answers ping (after the first handshake, which the first ping starts).
        try await waitForTunnel(from: namespace, to: "100.64.7.1")
        let ping = try await detached { try namespace.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", "100.64.7.1"]) }
        #expect(ping.contains("3 received"), "\(ping)")

        // --serve: curl in the namespace downloads 100 MB from the loopback http.server through the node.
        let served = try await curl(in: peer, url: "http://100.64.7.1:8080/\(file.name)", into: file)
        #expect(served.size == file.size)
        #expect(served.sha256 == file.sha256)
        report("curl through wirenet --serve (node sends), 100 MiB", bitsPerSecond: served.bitsPerSecond)

        // --forward: curl on this host's loopback reaches the http.server inside the namespace.
        let forwarded = try await detached {
            try Shell.run(["sh", "-c", "curl -sS --fail --max-time 60 http://127.0.0.1:\(forwardHTTP)/\(file.name) | sha256sum"])
        }
        #expect(forwarded.hasPrefix(file.sha256), "\(forwarded)")

        // iperf3 both ways through each rule; `timeout` ends a client whose node died (an iperf3
        // client connected to a vanished listener otherwise waits forever, and the suite with it).
        for reverse in [false, true] {
            let direction = reverse ? ["-R"] : []
            let throughServe = try await detached {
                try namespace.exec(["timeout", "60", "iperf3", "-c", "100.64.7.1", "-p", "5201", "-t", "2", "-f", "m"] + direction)
            }
            #expect(throughServe.contains("iperf Done."), "\(throughServe)")
            let throughForward = try await detached {
                try Shell.run(["timeout", "60", "iperf3", "-c", "127.0.0.1", "-p", "\(forwardIperf)", "-t", "2", "-f", "m"] + direction)
            }
            #expect(throughForward.contains("iperf Done."), "\(throughForward)")
            for (rule, output) in [("--serve", throughServe), ("--forward", throughForward)] {
                let line = output.split(separator: "\n").first { $0.contains("receiver") } ?? ""
                print("CLIInterop: iperf3 through \(rule)\(reverse ? " -R" : ""): \(line)")
            }
        }

        // SIGTERM stops it cleanly: exit status 0, control socket gone.
        wirenet.stop()
        #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent("wn0.sock").path))
    }
}
