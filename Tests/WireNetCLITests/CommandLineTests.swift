import Foundation
import NetTestSupport
import Testing
import WireGuard
@testable import WireNetCLI

/// The built `wirenet` binary, run as a child process: what people and scripts see.
@Suite("The wirenet command", .serialized, .enabled(if: WirenetBinary.isBuilt, "the wirenet executable is built next to the tests"))
struct CommandLineTests {
    // MARK: Keys

    @Test(.enabled(if: Shell.has("wg"), "needs wg from wireguard-tools"))
    func keysAgreeWithWgInBothDirections() async throws {
        let scratch = try ScratchDirectory()
        // wirenet genkey → both tools derive the same public key.
        let generated = try await runWirenet(["genkey"], scratch: scratch)
        #expect(generated.status == 0)
        #expect(generated.stdout.count == 45 && generated.stdout.hasSuffix("=\n"))
        let ours = try await runWirenet(["pubkey"], input: generated.stdout, scratch: scratch)
        let theirs = try Shell.run(["sh", "-c", "printf '%s' '\(generated.stdout)' | wg pubkey"])
        #expect(ours.status == 0)
        #expect(ours.stdout == theirs)

        // wg genkey → wirenet pubkey matches wg pubkey.
        let wgKey = try Shell.run(["wg", "genkey"])
        let wgPublic = try Shell.run(["sh", "-c", "printf '%s' '\(wgKey)' | wg pubkey"])
        let ourPublic = try await runWirenet(["pubkey"], input: wgKey, scratch: scratch)
        #expect(ourPublic.stdout == wgPublic)

        // genpsk prints 32 random bytes in base64, which wg accepts as a key.
        let psk = try await runWirenet(["genpsk"], scratch: scratch)
        #expect(psk.status == 0 && psk.stdout.count == 45)
        #expect(try Shell.run(["sh", "-c", "printf '%s' '\(psk.stdout)' | wg pubkey"]).count == 45)
        #expect(psk.stdout != generated.stdout)
    }

    @Test func pubkeyRefusesGarbageLikeWg() async throws {
        let scratch = try ScratchDirectory()
        let result = try await runWirenet(["pubkey"], input: "not a key\n", scratch: scratch)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "wirenet: Key is not the correct length or format\n")
    }

    // MARK: Refusing to start

    @Test func aBadConfigurationNamesFileAndLineAndStartsNothing() async throws {
        let scratch = try ScratchDirectory()
        let config = try scratch.write("wg7.conf", """
            [Interface]
            PrivateKey = \(PrivateKey().base64)
            Address = 100.64.21.1/32

            [Peer]
            # line 6 is this comment; the bad key is on line 7
            PublicKey = not-base64!
            AllowedIPs = 100.64.21.2/32

            """)
        let socket = scratch.path("control.sock")
        let result = try await runWirenet(["up", "--config", config, "--control-socket", socket], scratch: scratch)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)  // no ready line
        #expect(result.stderr.hasPrefix("wirenet: \(config):7: bad base64 key in PublicKey"))
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test(arguments: [
        (["--serve", "tcp:x=127.0.0.1:80"], "wirenet: bad --serve tcp:x=127.0.0.1:80: tunnel port `x` is not a number"),
        (["--forward", "8080=web.internal:80"], "wirenet: --forward tcp:127.0.0.1:8080=web.internal:80: peer names need a tailnet (--control-url)"),
        (["--serve", "80=host.invalid:80"], "wirenet: --serve tcp:80=host.invalid:80: cannot resolve host.invalid"),
    ])
    func aBadRuleIsNamedAndStartsNothing(rule: [String], message: String) async throws {
        let scratch = try ScratchDirectory()
        let config = try scratch.write("node.conf", Self.configuration(address: "100.64.21.1", peerAddress: "100.64.21.2"))
        let socket = scratch.path("control.sock")
        let result = try await runWirenet(["up", "--config", config, "--control-socket", socket] + rule, scratch: scratch)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix(message), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test(arguments: [
        (["--control-url", "http://127.0.0.1:9", "--state", "/tmp/x"], "wirenet: --control-url needs --hostname NAME"),
        (["--control-url", "http://127.0.0.1:9", "--hostname", "web"], "wirenet: --control-url needs --state DIR"),
        (["--control-url", "http://127.0.0.1:9", "--config", "x.conf"], "wirenet: --config and --control-url exclude each other"),
        (["--hostname", "web"], "wirenet: give either --config FILE (wg-quick) or --control-url URL (tailnet)"),
        (["--control-url", "http://127.0.0.1:9", "--hostname", "web", "--state", "/tmp/x", "--authkey-file", "/nonexistent/key"],
         "wirenet: cannot read the auth key file /nonexistent/key"),
    ])
    func tailnetOptionsAreCheckedBeforeAnythingStarts(arguments: [String], message: String) async throws {
        let scratch = try ScratchDirectory()
        let result = try await runWirenet(["up"] + arguments, scratch: scratch)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix(message), "stderr: \(result.stderr)")
    }

    /// As wg-quick does: a configuration others can read (it holds the private key) is warned about.
    @Test func aWorldReadableConfigurationIsWarnedAboutOnStandardError() async throws {
        let scratch = try ScratchDirectory()
        let config = try scratch.write("node.conf", Self.configuration(address: "100.64.21.1", peerAddress: "100.64.21.2"))
        chmod(config, 0o644)
        let socket = scratch.path("control.sock")
        let result = try await runWirenet(
            ["up", "--config", config, "--control-socket", socket, "--serve", "tcp:x=127.0.0.1:80"], scratch: scratch)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("Warning: `\(config)' is world accessible (mode 0644)"), "stderr: \(result.stderr)")
    }

    @Test func aForwardPortInUseIsReportedAndStartsNothing() async throws {
        let scratch = try ScratchDirectory()
        let taken = try HostListener(address: try loopback(0), reactor: try SocketReactor.shared())
        defer { taken.close() }
        let config = try scratch.write("node.conf", Self.configuration(address: "100.64.21.1", peerAddress: "100.64.21.2"))
        let socket = scratch.path("control.sock")
        let rule = "tcp:127.0.0.1:\(taken.localAddress.port)=100.64.21.2:80"
        let result = try await runWirenet(["up", "--config", config, "--control-socket", socket, "--forward", rule], scratch: scratch)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("wirenet: --forward \(rule): listen on 127.0.0.1:\(taken.localAddress.port): Address already in use"),
                "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test func aListenPortInUseIsReportedAndStartsNothing() async throws {
        let scratch = try ScratchDirectory()
        let reactor = try SocketReactor.shared()
        let taken = try HostUDPSocket.bound(to: try SocketAddress(numericHost: "::", port: 0, datagram: true), reactor: reactor)
        defer { taken.close() }
        let port = try #require(taken.localAddress?.port)
        let config = try scratch.write("node.conf", Self.configuration(address: "100.64.21.1", peerAddress: "100.64.21.2", listenPort: port))
        let socket = scratch.path("control.sock")
        let result = try await runWirenet(["up", "--config", config, "--control-socket", socket], scratch: scratch)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasSuffix("wirenet: \(config): ListenPort \(port): UDP port already in use\n"), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    // MARK: Running

    @Test(arguments: [SIGTERM, SIGINT])
    func upPrintsReadyAnswersStatusAndStopsCleanlyOnASignal(signal: Int32) async throws {
        let scratch = try ScratchDirectory()
        let key = PrivateKey()
        let config = try scratch.write("wn21.conf", Self.configuration(key: key, address: "100.64.21.1", address6: "fd7a:115c:a1e0:21::1", peerAddress: "100.64.21.2"))
        let socket = scratch.path("wn21.sock")
        let node = try WirenetProcess(["up", "--config", config, "--control-socket", socket, "--serve", "tcp:80=127.0.0.1:9"], scratch: scratch)
        let ready = await node.firstLine()
        #expect(ready == "ready 100.64.21.1/32 fd7a:115c:a1e0:21::1/128", "stderr: \(node.stderr)")
        #expect(FileManager.default.fileExists(atPath: socket))

        let status = try await runWirenet(["status", "--socket", socket], scratch: scratch)
        #expect(status.status == 0)
        #expect(status.stdout.hasPrefix("public key: \(key.publicKey)\n"))
        #expect(status.stdout.contains("addresses: 100.64.21.1/32, fd7a:115c:a1e0:21::1/128"))
        #expect(status.stdout.contains("latest handshake: none"))
        #expect(status.stdout.contains("serve tcp:80=127.0.0.1:9: 0 active, 0 total, 0 failed"))

        // A second node on the same control socket is refused and leaves the first one's socket alone.
        let second = try await runWirenet(["up", "--config", config, "--control-socket", socket], scratch: scratch)
        #expect(second.status == 1)
        #expect(second.stderr.hasSuffix("wirenet: control socket \(socket): another `wirenet up` is using it (pass --control-socket to run a second one)\n"),
                "stderr: \(second.stderr)")
        #expect(try await runWirenet(["status", "--socket", socket], scratch: scratch).status == 0)

        node.signal(signal)
        #expect(await node.waitForExit(within: .seconds(10)) == 0)
        #expect(node.stdout == ready.map { $0 + "\n" })  // exactly one line
        #expect(!FileManager.default.fileExists(atPath: socket))

        let gone = try await runWirenet(["status", "--socket", socket], scratch: scratch)
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("is `wirenet up` running?"))
    }

    @Test func demoCompletesWithAPageAndAThroughputResult() async throws {
        let scratch = try ScratchDirectory()
        let demo = try await runWirenet(["demo", "--seconds", "1", "--bytes", "\(64 << 20)"], scratch: scratch, within: .seconds(30))
        #expect(demo.status == 0, "stderr: \(demo.stderr)")
        #expect(demo.stdout.contains("HTTP/1.1 200 OK"))
        #expect(demo.stdout.contains("→ HTTP/1.1 200 OK"))  // the IPv6 request
        #expect(demo.stdout.contains("result: "))
        #expect(demo.stdout.contains("Gbit/s"))
        #expect(demo.stdout.contains("handshake: B ↔ A completed"))
        #expect(demo.stdout.hasSuffix("demo complete\n"))
    }

    /// Two `wirenet up` processes: curl → --forward → tunnel → --serve → python's http.server.
    @Test(.enabled(if: Shell.has("curl") && Shell.has("python3"), "needs curl and python3"))
    func aFileFetchedThroughServeAndForwardIsByteIdentical() async throws {
        let scratch = try ScratchDirectory()
        let reactor = try SocketReactor.shared()
        let site = scratch.url.appendingPathComponent("site")
        try FileManager.default.createDirectory(at: site, withIntermediateDirectories: true)
        var source = PatternSource(seed: 99)
        var content: [UInt8] = []
        for _ in 0..<48 { content += source.next(64 * 1024) }  // 3 MiB
        try Data(content).write(to: site.appendingPathComponent("blob.bin"))
        var digest = SHA256Digest()
        digest.update(content)
        let expected = hex(digest.finish())

        let httpPort = try freeTCPPort(reactor)
        let http = try WirenetProcess(["python3", "-m", "http.server", "\(httpPort)", "--bind", "127.0.0.1", "--directory", site.path],
                                      executable: "/usr/bin/env", scratch: scratch)
        defer { http.signal(SIGKILL) }
        #expect(await eventually { (try? await HostStream.connect(to: try loopback(httpPort), reactor: reactor))?.close() != nil })

        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let wgPort = try freeUDPPort(reactor)
        let serverConfig = try scratch.write("srv.conf", Self.configuration(
            key: serverKey, address: "100.64.22.1", peerKey: clientKey.publicKey, peerAddress: "100.64.22.2", listenPort: wgPort))
        let clientConfig = try scratch.write("cli.conf", Self.configuration(
            key: clientKey, address: "100.64.22.2", peerKey: serverKey.publicKey, peerAddress: "100.64.22.1",
            endpoint: "127.0.0.1:\(wgPort)"))
        let forwardPort = try freeTCPPort(reactor)
        let server = try WirenetProcess(["up", "--config", serverConfig, "--control-socket", scratch.path("srv.sock"),
                                         "--serve", "tcp:8080=127.0.0.1:\(httpPort)"], scratch: scratch)
        let client = try WirenetProcess(["up", "--config", clientConfig, "--control-socket", scratch.path("cli.sock"),
                                         "--forward", "tcp:127.0.0.1:\(forwardPort)=100.64.22.1:8080"], scratch: scratch)
        #expect(await server.firstLine() == "ready 100.64.22.1/32", "stderr: \(server.stderr)")
        #expect(await client.firstLine() == "ready 100.64.22.2/32", "stderr: \(client.stderr)")

        let fetched = scratch.path("fetched.bin")
        try Shell.run(["curl", "-sS", "--max-time", "30", "-o", fetched, "http://127.0.0.1:\(forwardPort)/blob.bin"])
        let received = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fetched)))
        var check = SHA256Digest()
        check.update(received)
        #expect(received.count == content.count)
        #expect(hex(check.finish()) == expected)

        // Both sides let go of the connection.
        #expect(try await eventually {
            let status = try await runWirenet(["status", "--socket", scratch.path("srv.sock")], scratch: scratch)
            return status.stdout.contains("serve tcp:8080=127.0.0.1:\(httpPort): 0 active, 1 total, 0 failed")
        })
        let clientStatus = try await runWirenet(["status", "--socket", scratch.path("cli.sock")], scratch: scratch)
        #expect(clientStatus.stdout.contains("forward tcp:127.0.0.1:\(forwardPort)=100.64.22.1:8080: 0 active, 1 total, 0 failed"))

        server.signal()
        client.signal()
        #expect(await server.waitForExit(within: .seconds(10)) == 0)
        #expect(await client.waitForExit(within: .seconds(10)) == 0)
    }

    // MARK: Helpers

    static func configuration(key: PrivateKey = PrivateKey(), address: String, address6: String? = nil,
                              peerKey: PublicKey = PrivateKey().publicKey, peerAddress: String,
                              listenPort: UInt16? = nil, endpoint: String? = nil) -> String {
        var text = "[Interface]\nPrivateKey = \(key.base64)\nAddress = \(address)/32"
        if let address6 { text += ", \(address6)/128" }
        text += "\n"
        if let listenPort { text += "ListenPort = \(listenPort)\n" }
        text += "\n[Peer]\nPublicKey = \(peerKey)\nAllowedIPs = \(peerAddress)/32\n"
        if let endpoint { text += "Endpoint = \(endpoint)\n" }
        return text
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freeTCPPort(_ reactor: SocketReactor) throws -> UInt16 {
    let listener = try HostListener(address: try loopback(0), reactor: reactor)
    defer { listener.close() }
    return listener.localAddress.port
}

/// A UDP port (all addresses) that was free a moment ago.
func freeUDPPort(_ reactor: SocketReactor) throws -> UInt16 {
    let socket = try HostUDPSocket.bound(to: try SocketAddress(numericHost: "::", port: 0, datagram: true), reactor: reactor)
    defer { socket.close() }
    return socket.localAddress?.port ?? 0
}
