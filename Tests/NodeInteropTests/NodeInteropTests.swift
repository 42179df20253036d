import Foundation
import NetStack
import NetTestSupport
import Testing
import Wire
import WireGuard
import WireNet

/// The node against a real peer (issue #7): wireguard-go and the Linux kernel's TCP/IP stack in a
/// network namespace, driven with ping, curl, iperf3, socat and python's http.server, while the node
/// runs in this process. See ``KernelPeer`` and ``Interop`` for the topology.
///
/// Where the CLI would use `--serve`, the test does the same through the library (``LoopbackForward``).
///
/// The tests taking an ``Interop/Backend`` run twice: over the node's userspace stack (the node's
/// sockets) and over its kernel TUN packet path (the host's TCP/IP stack in the namespace that holds
/// the TUN interface, as `wirenet up --tun` runs).
@Suite("Node interop with wireguard-go and the kernel", .serialized,
       .enabled(if: Shell.isRoot && ["wireguard-go", "wg", "curl", "iperf3", "socat", "tcpdump", "ping", "/usr/bin/python3"].allSatisfy(Shell.has),
                "needs root for network namespaces, and the tools of scripts/bootstrap.sh"))
struct NodeInteropTests {
    @Test(arguments: Interop.Backend.allCases)
    func theKernelPingsTheNodeOverIPv4AndIPv6(backend: Interop.Backend) async throws {
        try await Interop.run(backend: backend) { interop in
            let namespace = interop.peer.namespace
            try await waitForTunnel(from: namespace, to: Interop.nodeV4)
            let v4 = try await detached { try namespace.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", Interop.nodeV4]) }
            #expect(v4.contains("3 received"), "\(v4)")
            let v6 = try await detached { try namespace.exec(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", Interop.nodeV6]) }
            #expect(v6.contains("3 received"), "\(v6)")
            let status = try await interop.peerStatus()
            #expect(status.endpoint == "\(KernelPeer.underlayPeer):\(KernelPeer.defaultListenPort)")
            #expect(status.lastHandshakeAge != nil)
            #expect(status.droppedPackets == 0)
        }
    }

    @Test(arguments: Interop.Backend.allCases)
    func curlDownloads100MBFromAServerOnTheNodesSide(backend: Interop.Backend) async throws {
        try await Interop.run(backend: backend) { interop in
            let file = try RandomFile(megabytes: 100)
            let served = try await interop.serveHTTP(file.directory, port: 8080)
            defer { served.stop() }
            let download = try await curl(in: interop.peer, url: "http://\(Interop.nodeV4):8080/\(file.name)", into: file)
            #expect(download.size == file.size)
            #expect(download.sha256 == file.sha256)
            #expect(served.errors.isEmpty, "\(served.errors)")
            let drops = try await interop.wireGuardStatus().drops
            #expect(drops.total == 0, "\(drops)")
            report("\(backend): curl through the node (node sends), 100 MiB", bitsPerSecond: download.bitsPerSecond)
        }
    }

    @Test(arguments: Interop.Backend.allCases)
    func theNodeDialsAnHTTPServerInsideTheNamespaceOverIPv4AndIPv6AndIsRefusedOnAClosedPort(backend: Interop.Backend) async throws {
        try await Interop.run(backend: backend) { interop in
            let file = try RandomFile(megabytes: 20)
            // Bound to "::": python's http.server then accepts IPv4 too (dual-stack).
            let server = try HTTPServer(serving: file.directory, address: "::", port: 8000, in: interop.peer.namespace)
            defer { server.stop() }
            for host in [KernelPeer.tunnelV4, KernelPeer.tunnelV6] {
                let start = ContinuousClock.now
                let body = try await interop.fetch(host: host, port: 8000, path: "/\(file.name)", into: file)
                let elapsed = ContinuousClock.now - start
                #expect(body.length == file.size, "\(host)")
                #expect(body.sha256 == file.sha256, "\(host)")
                report("\(backend): HTTP GET from \(host) (node receives), 20 MiB",
                       bitsPerSecond: Double(body.length * 8) / elapsed.seconds)
            }
            // A closed port in the namespace: the kernel answers the node's SYN with RST.
            if let hostNamespace = interop.hostNamespace {
                // curl exits 7 ("couldn't connect") at once on a reset; unanswered, it would wait
                // out --max-time and exit 28.
                let start = ContinuousClock.now
                let refused = await detachedResult {
                    try hostNamespace.exec(["curl", "-sS", "--max-time", "5", "http://\(KernelPeer.tunnelV4):8001/"])
                }
                #expect(ContinuousClock.now - start < .seconds(3))
                guard case .failure(let error) = refused else { Issue.record("curl connected to a closed port"); return }
                #expect((error as? Shell.Failure)?.status == 7, "\(error)")
            } else {
                await #expect(throws: NodeError.connectionRefused(IPEndpoint(IPAddress(KernelPeer.tunnelV4)!, 8001))) {
                    try await interop.node.dial(tcp: KernelPeer.tunnelV4, port: 8001, timeout: .seconds(5))
                }
            }
            let drops = try await interop.wireGuardStatus().drops
            #expect(drops.total == 0, "\(drops)")
        }
    }

    @Test func iperf3ThroughTheNodesListenerBothDirections() async throws {
        try await Interop.run { interop in
            let server = try IPerfServer()
            let forward = try await interop.serve(port: 5201, to: server.port)
            defer { forward.close() }
            for (reverse, flows) in [(false, 1), (true, 1), (false, 4), (true, 4)] {
                let command = ["iperf3", "-c", Interop.nodeV4, "-p", "5201", "-t", flows == 1 ? "3" : "2", "-P", "\(flows)",
                               "-J", "--connect-timeout", "5000"] + (reverse ? ["-R"] : [])
                let namespace = interop.peer.namespace
                let output = try await detached { try namespace.exec(command) }
                let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
                let received = (json?["end"] as? [String: Any])?["sum_received"] as? [String: Any]
                let bitsPerSecond = try #require(received?["bits_per_second"] as? Double, "\(output.prefix(2000))")
                #expect(bitsPerSecond > 0)
                report("iperf3 -P \(flows) \(reverse ? "-R (node sends)" : "(node receives)")", bitsPerSecond: bitsPerSecond)
            }
            // iperf3's control connection and its data connections, for each run.
            #expect(forward.accepted.load(ordering: .relaxed) == 2 + 2 + 5 + 5)
        }
    }

    /// Userspace: a ``PacketConn`` of the node against socat and an echo server in the peer's
    /// namespace. Kernel TUN: the host's UDP sockets in ``Interop/hostNamespace`` instead
    /// (``exchangeDatagramsThroughTheHostStack(_:_:)``).
    @Test(arguments: Interop.Backend.allCases)
    func datagramsGoBothWaysBetweenTheNodesSideAndSocat(backend: Interop.Backend) async throws {
        try await Interop.run(backend: backend) { interop in
            if let hostNamespace = interop.hostNamespace {
                try await exchangeDatagramsThroughTheHostStack(interop, hostNamespace)
                return
            }
            let conn = try await interop.node.listenPacket(udp: 7000)
            defer { conn.close() }
            let namespace = interop.peer.namespace

            // The kernel side sends first; the node answers the sender.
            for (family, node) in [("UDP4", Interop.nodeV4), ("UDP6", "[\(Interop.nodeV6)]")] {
                let text = "hello from the kernel over \(family)"
                // One process (no shell): BackgroundProcess sees a child end only when every process
                // that inherited its descriptors has, so a pipeline's socat would hold stop() up.
                let input = interop.peer.directory.appendingPathComponent("datagram-\(family)")
                try (text + "\n").write(to: input, atomically: true, encoding: .utf8)
                let socat = try namespace.spawn(["socat", "-t", "10", "OPEN:\(input.path)!!STDOUT", "\(family):\(node):7000"])
                defer { socat.stop() }
                let (bytes, from) = try await withTimeout(seconds: 10) { try await conn.receive() }
                #expect(String(decoding: bytes, as: UTF8.self) == text + "\n")
                #expect(from.address == IPAddress(family == "UDP4" ? KernelPeer.tunnelV4 : KernelPeer.tunnelV6))
                try await conn.send(Array("reply over \(family)".utf8), to: from)
                try await waitFor("socat to print the node's reply", timeout: 10) { socat.output.contains("reply over \(family)") }
            }

            // The node sends first, to an echo server, with small and largest datagrams.
            let echo = try UDPEcho(port: 6000, in: namespace)
            for host in [KernelPeer.tunnelV4, KernelPeer.tunnelV6] {
                let destination = IPEndpoint(IPAddress(host)!, echo.port)
                for size in [1, 512, conn.maximumDatagramSize] {
                    var payload = [UInt8](repeating: 0, count: size)
                    for i in payload.indices { payload[i] = UInt8(truncatingIfNeeded: i &* 7 &+ size) }
                    let reply = try await sendUntilEchoed(payload, to: destination, on: conn)
                    #expect(reply.bytes == payload, "\(host) \(size) bytes")
                    #expect(reply.from == destination)
                }
            }
        }
    }

    @Test func aPresharedKeyOnBothSidesWorksWhicheverSideInitiates() async throws {
        let presharedKey = PresharedKey()
        try await Interop.run(presharedKey: presharedKey) { interop in
            let namespace = interop.peer.namespace
            // The node initiates (its first datagram needs a session).
            let echo = try UDPEcho(port: 6000, in: namespace)
            let conn = try await interop.node.listenPacket()
            defer { conn.close() }
            let reply = try await sendUntilEchoed(Array("psk".utf8), to: IPEndpoint(IPAddress(KernelPeer.tunnelV4)!, echo.port), on: conn)
            #expect(reply.bytes == Array("psk".utf8))

            // The kernel initiates: after forgetting its sessions, its next packet starts a handshake.
            try interop.peer.forgetSessions(nodeKey: interop.node.publicKey, nodePort: interop.nodePort)
            let ping = try await detached { try namespace.exec(["ping", "-c", "2", "-i", "0.2", "-W", "2", Interop.nodeV4]) }
            #expect(ping.contains("2 received"), "\(ping)")

            // Control: with a different key on the kernel side, no handshake completes.
            interop.peer.setPresharedKey(PresharedKey())
            try interop.peer.forgetSessions(nodeKey: interop.node.publicKey, nodePort: interop.nodePort)
            let failed = await detachedResult { try namespace.exec(["ping", "-c", "1", "-W", "2", Interop.nodeV4]) }
            #expect(throws: (any Error).self) { try failed.get() }
        }
    }

    @Test func mtu1280OnBothSidesCarriesLargeTransfersWithMSSFromTheMTU() async throws {
        try await Interop.run(mtu: 1280) { interop in
            let peer = interop.peer
            let file = try RandomFile(megabytes: 30)
            // SYNs on the tunnel, to read the MSS the node advertises.
            // (pcap's tcp[] only indexes IPv4; for IPv6 without extension headers the flags are at 40 + 13.)
            let filter = "(ip and tcp[tcpflags] & tcp-syn != 0) or (ip6 and ip6[6] == 6 and ip6[53] & 2 != 0)"
            let capture = try peer.namespace.spawn(["tcpdump", "-l", "-nn", "-i", peer.interface, filter])
            defer { capture.stop() }
            try poll("tcpdump to start", timeout: 10) { capture.output.contains("listening on") }

            // The node sends: curl in the namespace through the node's listener.
            let local = try HTTPServer(serving: file.directory, address: "127.0.0.1", port: try freeLoopbackPort())
            defer { local.stop() }
            let forward = try await interop.serve(port: 8080, to: local.port)
            defer { forward.close() }
            let download = try await curl(in: peer, url: "http://\(Interop.nodeV4):8080/\(file.name)", into: file)
            #expect(download.size == file.size)
            #expect(download.sha256 == file.sha256)
            report("MTU 1280: curl through the node (node sends), 30 MiB", bitsPerSecond: download.bitsPerSecond)

            // The node receives: node.dial to http.server in the namespace, over IPv6 (MSS 1280 - 60).
            let remote = try HTTPServer(serving: file.directory, address: "::", port: 8000, in: peer.namespace)
            defer { remote.stop() }
            let start = ContinuousClock.now
            let body = try await interop.httpGet(host: KernelPeer.tunnelV6, port: 8000, path: "/\(file.name)")
            #expect(body.length == file.size)
            #expect(body.sha256 == file.sha256)
            report("MTU 1280: node.dial HTTP GET over IPv6 (node receives), 30 MiB",
                   bitsPerSecond: Double(body.length * 8) / (ContinuousClock.now - start).seconds)

            // The node's SYN-ACK (IPv4) and SYN (IPv6) carry the MSS the 1280-byte MTU allows.
            let isSynAck = { (line: Substring) in line.contains("\(Interop.nodeV4).8080 >") }
            let isSyn = { (line: Substring) in
                line.contains("\(Interop.nodeV6).") && line.contains("> \(KernelPeer.tunnelV6).8000")
            }
            try? await waitFor("tcpdump to show the node's SYNs", timeout: 5) {
                let lines = capture.output.split(separator: "\n")
                return lines.contains(where: isSynAck) && lines.contains(where: isSyn)
            }
            let lines = capture.output.split(separator: "\n")
            let synAck = lines.first(where: isSynAck)
            let syn = lines.first(where: isSyn)
            #expect(synAck?.contains("mss 1240") == true, "\(capture.output)")  // 1280 - 20 (IPv4) - 20 (TCP)
            #expect(syn?.contains("mss 1220") == true, "\(capture.output)")  // 1280 - 40 (IPv6) - 20 (TCP)
        }
    }

    @Test func trafficFollowsThePeerWhenItsUDPPortChanges() async throws {
        try await Interop.run { interop in
            let peer = interop.peer
            let file = try RandomFile(megabytes: 30)
            let server = try HTTPServer(serving: file.directory, address: "::", port: 8000, in: peer.namespace)
            defer { server.stop() }
            let newPort = KernelPeer.defaultListenPort + 1
            var moved = false
            // The kernel sends (so it is the one whose packets carry the new port); move it mid-transfer.
            let body = try await interop.httpGet(host: KernelPeer.tunnelV4, port: 8000, path: "/\(file.name)") { received in
                if !moved && received >= 10 << 20 {
                    moved = true
                    try await detached { try peer.changeListenPort(to: newPort) }
                }
            }
            #expect(moved)
            #expect(body.length == file.size)
            #expect(body.sha256 == file.sha256)
            let status = try await interop.peerStatus()
            #expect(status.endpoint == "\(KernelPeer.underlayPeer):\(newPort)")
            let ping = try await detached { try peer.namespace.exec(["ping", "-c", "2", "-i", "0.2", "-W", "2", Interop.nodeV4]) }
            #expect(ping.contains("2 received"), "\(ping)")
            #expect(try peer.show("endpoints").contains("\(KernelPeer.underlayHost):\(interop.nodePort)"))
        }
    }

    @Test func transfersSurviveForcedRekeysFromEitherSide() async throws {
        try await Interop.run { interop in
            let peer = interop.peer
            let file = try RandomFile(megabytes: 50)

            // The kernel sends, and forgets its sessions twice: each time its next packet initiates and
            // the node answers as responder.
            let remote = try HTTPServer(serving: file.directory, address: "::", port: 8000, in: peer.namespace)
            defer { remote.stop() }
            var kernelRekeys = 0
            let body = try await interop.httpGet(host: KernelPeer.tunnelV4, port: 8000, path: "/\(file.name)") { received in
                if received >= (kernelRekeys + 1) * (15 << 20) && kernelRekeys < 2 {
                    kernelRekeys += 1
                    try await detached { try peer.forgetSessions(nodeKey: interop.node.publicKey, nodePort: interop.nodePort) }
                }
            }
            #expect(kernelRekeys == 2)
            #expect(body.length == file.size)
            #expect(body.sha256 == file.sha256)
            // The first handshake, then one per time the kernel forgot its sessions (the node answered).
            #expect(try await interop.wireGuardStatus().handshakesCompleted == 3)

            // The node sends, and forgets its sessions (removePeer + addPeer): its next packet initiates.
            let local = try HTTPServer(serving: file.directory, address: "127.0.0.1", port: try freeLoopbackPort())
            defer { local.stop() }
            let forward = try await interop.serve(port: 8080, to: local.port)
            defer { forward.close() }
            let url = "http://\(Interop.nodeV4):8080/\(file.name)"
            let transfer = Task { try await curl(in: peer, url: url, into: file) }
            try await waitFor("20 MiB through the node", timeout: 60) { forward.bytesToTunnel.load(ordering: .relaxed) >= 20 << 20 }
            let rekeyed = ContinuousClock.now
            try await interop.node.removePeer(peer.publicKey)
            try await interop.node.addPeer(interop.peerConfiguration)
            let download = try await transfer.value
            #expect(download.size == file.size)
            #expect(download.sha256 == file.sha256)
            #expect(forward.errors.isEmpty, "\(forward.errors)")
            let age = try #require(try await interop.peerStatus().lastHandshakeAge)
            #expect(age < ContinuousClock.now - rekeyed, "the node's session is newer than its rekey")
            // The re-added peer starts from zero: exactly the handshake the node initiated.
            #expect(try await interop.wireGuardStatus().handshakesCompleted == 1)
        }
    }

    @Test(.enabled(if: Shell.has("nft"), "needs nft (nftables) to drop datagrams"))
    func tcpRecoversFromUnderlayLossBothWays() async throws {
        try await Interop.run { interop in
            let peer = interop.peer
            try peer.dropUnderlayDatagrams(percent: 1)
            let file = try RandomFile(megabytes: 10)

            let local = try HTTPServer(serving: file.directory, address: "127.0.0.1", port: try freeLoopbackPort())
            defer { local.stop() }
            let forward = try await interop.serve(port: 8080, to: local.port)
            defer { forward.close() }
            let download = try await curl(in: peer, url: "http://\(Interop.nodeV4):8080/\(file.name)", into: file)
            #expect(download.size == file.size)
            #expect(download.sha256 == file.sha256)
            report("1 % loss: curl through the node (node sends), 10 MiB", bitsPerSecond: download.bitsPerSecond)

            let remote = try HTTPServer(serving: file.directory, address: "::", port: 8000, in: peer.namespace)
            defer { remote.stop() }
            let start = ContinuousClock.now
            let body = try await interop.httpGet(host: KernelPeer.tunnelV4, port: 8000, path: "/\(file.name)")
            // The kernel sent this one: how it recovered (the node's stack does not offer SACK).
            let counters = try peer.namespace.exec(["nstat", "-asz", "TcpRetransSegs", "TcpExtTCPTimeouts",
                                                    "TcpExtTCPRenoRecovery", "TcpExtTCPSackRecovery"])
                .split(separator: "\n").filter { !$0.hasPrefix("#") }
                .map { $0.split(separator: " ").prefix(2).joined(separator: " ") }
            print("NodeInterop: 1 % loss, Linux sender: \(counters.joined(separator: ", "))")
            #expect(body.length == file.size)
            #expect(body.sha256 == file.sha256)
            report("1 % loss: node.dial HTTP GET (node receives), 10 MiB",
                   bitsPerSecond: Double(body.length * 8) / (ContinuousClock.now - start).seconds)
            let dropped = try peer.droppedUnderlayDatagrams()
            #expect(dropped > 0)
            print("NodeInterop: 1 % loss: \(dropped) WireGuard datagrams dropped on the underlay")
        }
    }
}

// MARK: - Helpers

/// What curl saw: the body's size and hash, and its average download speed.
struct Download {
    var size: Int
    var sha256: String
    var bitsPerSecond: Double
}

/// Downloads `url` with curl inside the peer's namespace into a file next to `file`, and hashes it.
func curl(in peer: KernelPeer, url: String, into file: RandomFile) async throws -> Download {
    let destination = file.directory.appendingPathComponent("download-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: destination) }
    let namespace = peer.namespace
    let output = try await detached {
        try namespace.exec(["curl", "-sS", "--fail", "--max-time", "60", "-o", destination.path,
                            "-w", "%{size_download} %{speed_download}", url])
    }
    let fields = output.split(separator: " ")
    guard fields.count == 2, let size = Int(fields[0]), let speed = Double(fields[1]) else {
        throw InteropFailure("curl printed: \(output)")
    }
    return Download(size: size, sha256: try SHA256Digest.ofFile(destination), bitsPerSecond: speed * 8)
}

/// Sends `payload` every 200 ms until a datagram comes back from `destination` (the first send may
/// wait for a handshake, and the echo server may still be starting).
func sendUntilEchoed(_ payload: [UInt8], to destination: IPEndpoint, on conn: PacketConn) async throws
    -> (bytes: [UInt8], from: IPEndpoint) {
    try await withTimeout(seconds: 10) {
        try await withThrowingTaskGroup(of: (bytes: [UInt8], from: IPEndpoint)?.self) { group in
            group.addTask {
                while true {
                    let datagram = try await conn.receive()
                    if datagram.from == destination { return datagram }
                }
            }
            group.addTask {
                while true {
                    try await conn.send(payload, to: destination)
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            defer { group.cancelAll() }
            return try await group.next()!!
        }
    }
}

/// Runs `body`, throwing when it takes longer than `seconds`.
func withTimeout<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let result = try await group.next()! else { throw InteropFailure("timed out after \(seconds) s") }
        return result
    }
}

/// Runs a blocking call (a child process, `wg set`) on its own thread, off the cooperative pool.
func detached<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await detachedResult(body).get()
}

func detachedResult<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, any Error> {
    await onOwnThread(body)
}

/// Waits until one ping from `namespace` gets through the tunnel, for up to 15 s.
///
/// The first ping makes wireguard-go start the handshake. When that first initiation or response is
/// lost (seen once in a full parallel run on 2 loaded cores), WireGuard itself retries after
/// Rekey-Timeout (5 s, paper §6.4); tests that then require every echo must start after that.
func waitForTunnel(from namespace: NetworkNamespace, to address: String) async throws {
    try await waitFor("a ping through the tunnel to \(address)", timeout: 15) {
        (try? await detached { try namespace.exec(["ping", "-c", "1", "-W", "1", address]) }) != nil
    }
}

/// Prints a measured figure (no assertion: the machine is shared, figures are for the report).
func report(_ what: String, bitsPerSecond: Double) {
    print("NodeInterop: \(what): \(String(format: "%.3f", bitsPerSecond / 1e9)) Gbit/s")
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
