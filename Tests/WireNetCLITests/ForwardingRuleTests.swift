import Dispatch
import Locking
import NetStack
import Testing
import Synchronization
import Wire
import WireNet
@testable import WireNetCLI

@Suite("--serve and --forward rules")
struct ForwardingRuleTests {
    @Test func serveRuleDefaultsToTCP() throws {
        let rule = try ServeRule(parsing: "5201=127.0.0.1:5202")
        #expect(rule == ServeRule(proto: .tcp, tunnelPort: 5201, target: HostPort(host: "127.0.0.1", port: 5202)))
        #expect(rule.description == "tcp:5201=127.0.0.1:5202")
    }

    @Test func serveRuleTakesAProtocolAndAHostNameOrBracketedIPv6() throws {
        #expect(try ServeRule(parsing: "udp:53=localhost:5353")
            == ServeRule(proto: .udp, tunnelPort: 53, target: HostPort(host: "localhost", port: 5353)))
        let v6 = try ServeRule(parsing: "tcp:80=[::1]:8080")
        #expect(v6.target == HostPort(host: "::1", port: 8080))
        #expect(v6.description == "tcp:80=[::1]:8080")
    }

    @Test func theRuleThePerfHarnessUsesParses() throws {
        #expect(try ServeRule(parsing: "tcp:5201=127.0.0.1:5202").tunnelPort == 5201)
        let forward = try ForwardRule(parsing: "tcp:127.0.0.1:5201=100.64.8.2:5201")
        #expect(forward.bind == HostPort(host: "127.0.0.1", port: 5201))
        #expect(forward.target == IPEndpoint(IPAddress("100.64.8.2")!, 5201))
    }

    @Test func forwardRuleBindsLoopbackWhenOnlyAPortIsGiven() throws {
        let rule = try ForwardRule(parsing: "8080=100.64.0.2:80")
        #expect(rule.proto == .tcp)
        #expect(rule.bind == HostPort(host: "127.0.0.1", port: 8080))
        #expect(rule.description == "tcp:127.0.0.1:8080=100.64.0.2:80")
    }

    @Test func forwardRuleTakesATailnetPeerNameResolvedLater() throws {
        let rule = try ForwardRule(parsing: "8080=db.tailnet.test:80")
        #expect(rule.targetName == "db.tailnet.test")
        #expect(rule.target.port == 80)
        #expect(rule.description == "tcp:127.0.0.1:8080=db.tailnet.test:80")
        #expect(try ForwardRule(parsing: "8080=100.64.0.2:80").targetName == nil)
    }

    @Test func forwardRuleAcceptsIPv6OnBothSides() throws {
        let rule = try ForwardRule(parsing: "udp:[::1]:5353=[fd7a:115c:a1e0::2]:53")
        #expect(rule.proto == .udp)
        #expect(rule.bind == HostPort(host: "::1", port: 5353))
        #expect(rule.target == IPEndpoint(IPAddress("fd7a:115c:a1e0::2")!, 53))
        // After `=` the host must be an address, so the last colon splits unambiguously.
        #expect(try ForwardRule(parsing: "2222=fd7a:115c:a1e0::2:22").target == IPEndpoint(IPAddress("fd7a:115c:a1e0::2")!, 22))
    }

    @Test(arguments: [
        ("5201", "no `=`"),
        ("x=127.0.0.1:80", "tunnel port `x`"),
        ("0=127.0.0.1:80", "tunnel port `0`"),
        ("70000=127.0.0.1:80", "tunnel port `70000`"),
        ("80=127.0.0.1", "has no `:PORT`"),
        ("80=127.0.0.1:0", "port `0`"),
        ("80=:8080", "empty host"),
        ("80=::1:8080", "needs brackets"),
        ("80=[::1:8080", "without `]`"),
        ("80=[nothex]:8080", "not an IPv6 address"),
        ("sctp:80=127.0.0.1:80", "tunnel port `sctp:80`"),
        ("80=bad host:80", "not a host name"),
    ])
    func badServeRulesNameTheProblem(text: String, reason: String) {
        #expect {
            try ServeRule(parsing: text)
        } throws: { error in
            let description = "\(error)"
            return description.hasPrefix("bad --serve \(text): ") && description.contains(reason)
                && description.hasSuffix("(expected [tcp:|udp:]PORT=HOST:PORT)")
        }
    }

    @Test(arguments: [
        ("8080", "no `=`"),
        ("abc=100.64.0.2:80", "local port `abc`"),
        ("127.0.0.1:=100.64.0.2:80", "port ``"),
        ("8080=100.64.0.2", "has no `:PORT`"),
        ("8080=100.64.0.2:99999", "port `99999`"),
    ])
    func badForwardRulesNameTheProblem(text: String, reason: String) {
        #expect {
            try ForwardRule(parsing: text)
        } throws: { error in
            let description = "\(error)"
            return description.hasPrefix("bad --forward \(text): ") && description.contains(reason)
        }
    }
}

@Suite("Control socket location")
struct ControlSocketPathTests {
    @Test func theInterfaceIsTheConfigFileNameWithoutConf() {
        #expect(ControlSocketPath.interfaceName(forConfiguration: "/etc/wireguard/wg0.conf") == "wg0")
        #expect(ControlSocketPath.interfaceName(forConfiguration: "perf-r.conf") == "perf-r")
        #expect(ControlSocketPath.interfaceName(forConfiguration: "node") == "node")
        #expect(ControlSocketPath.interfaceName(forConfiguration: ".conf") == ".conf")
    }

    @Test func rootUsesRunOthersTheRuntimeDirectoryOrTmp() {
        #expect(ControlSocketPath.path(interface: "wg0", isRoot: true, runtimeDirectory: "/run/user/1000", uid: 0) == "/run/wirenet/wg0.sock")
        #expect(ControlSocketPath.path(interface: "wg0", isRoot: false, runtimeDirectory: "/run/user/1000", uid: 1000) == "/run/user/1000/wirenet/wg0.sock")
        #expect(ControlSocketPath.path(interface: "wg0", isRoot: false, runtimeDirectory: nil, uid: 1000) == "/tmp/wirenet-1000/wg0.sock")
        #expect(ControlSocketPath.path(interface: "wg0", isRoot: false, runtimeDirectory: "relative", uid: 7) == "/tmp/wirenet-7/wg0.sock")
    }
}

#if CLI  // KeyText lives with the key commands (the CLI package trait).
@Suite("Key text as wg pubkey reads it")
struct KeyTextTests {
    @Test func aKeyWithATrailingNewlineIsAccepted() throws {
        // RFC 7748 §6.1's Alice: private scalar and public key.
        let alice = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
        let alicePublic = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
        #expect(try KeyText.publicKey(forPrivateKeyText: Array((alice + "\n").utf8)) == alicePublic)
        #expect(try KeyText.publicKey(forPrivateKeyText: Array((alice + " \t\r\n").utf8)) == alicePublic)
    }

    @Test func shortLongAndGarbledKeysAreRefusedAsWgDoes() {
        #expect(throws: KeyText.Malformed(description: "Key is not the correct length or format")) {
            try KeyText.publicKey(forPrivateKeyText: Array("abc\n".utf8))
        }
        #expect(throws: KeyText.Malformed(description: "Trailing characters found after key")) {
            try KeyText.publicKey(forPrivateKeyText: Array("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=x".utf8))
        }
        // wg reads exactly 44 characters, so a leading space pushes the `=` into the trailing part.
        #expect(throws: KeyText.Malformed(description: "Trailing characters found after key")) {
            try KeyText.publicKey(forPrivateKeyText: Array(" dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=".utf8))
        }
        #expect(throws: KeyText.Malformed(description: "Key is not the correct length or format")) {
            try KeyText.publicKey(forPrivateKeyText: Array(" dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC".utf8))
        }
    }
}
#endif

@Suite("Host addresses")
struct SocketAddressTests {
    @Test func literalsResolveToThemselvesAndPrintWithThePort() async throws {
        #expect(try await SocketAddress.resolve(host: "127.0.0.1", port: 5202).description == "127.0.0.1:5202")
        #expect(try await SocketAddress.resolve(host: "::1", port: 53, datagram: true).description == "[::1]:53")
        #expect(try await SocketAddress.resolve(host: "[::1]", port: 80).port == 80)
        #expect(try SocketAddress(numericHost: "[::1]", port: 80).description == "[::1]:80")
    }

    @Test func localhostPrefersIPv4() async throws {
        #expect(try await SocketAddress.resolve(host: "localhost", port: 8080).description == "127.0.0.1:8080")
    }

    @Test func aNameThatDoesNotResolveSaysSo() async {
        await #expect(throws: ResolutionError.self) { try await SocketAddress.resolve(host: "nothing.invalid", port: 1) }
        // A name is not a literal: the numeric form refuses it without asking DNS.
        #expect(throws: ResolutionError.self) { try SocketAddress(numericHost: "localhost", port: 1) }
    }

    /// `wirenet up` resolves its rules' host names at start-up: each lookup blocks in `getaddrinfo`
    /// for as long as DNS takes, so it runs on the node library's resolver queue and the cooperative
    /// pool (one thread per core) keeps running other tasks meanwhile.
    @Test func nameLookupsRunOnTheResolverQueueAndLeaveTheCooperativePoolFree() async throws {
        let gate = DispatchSemaphore(value: 0)
        PeerEndpointResolver.queue.setSpecific(key: onResolverQueue, value: "wirenet.resolver")
        let labels = Lock<[String]>([])
        let gaveUp = Atomic<Int>(0)
        let lookup: SocketAddress.Lookup = { _, port, datagram in
            labels.withLock { $0.append(DispatchQueue.getSpecific(key: onResolverQueue) ?? "elsewhere") }
            // Stands in for a slow DNS answer that only the probe below releases. It gives up after
            // 20 s, so that a starved pool (the probe cannot run until lookups give up) fails the
            // test instead of hanging it — without a wall-clock bound on how fast the probe runs.
            if gate.wait(timeout: .now() + .seconds(20)) == .timedOut { gaveUp.add(1, ordering: .relaxed) }
            return .success(try! SocketAddress(numericHost: "192.0.2.7", port: port, datagram: datagram))
        }
        // More blocked lookups than the pool has threads on this machine.
        let lookups = (0..<8).map { index in
            Task { try await SocketAddress.resolve(host: "service\(index).example", port: UInt16(2000 + index), datagram: false, lookup: lookup) }
        }
        // Other tasks still run while the lookups block: the probe releases every lookup.
        await Task.detached { for _ in 0..<8 { gate.signal() } }.value
        for (index, task) in lookups.enumerated() {
            #expect(try await task.value.description == "192.0.2.7:\(2000 + index)")
        }
        #expect(labels.withLock { $0 } == Array(repeating: "wirenet.resolver", count: 8))
        #expect(gaveUp.load(ordering: .relaxed) == 0, "lookups blocked the pool until they gave up")
        // A literal is never handed to the lookup.
        let literal = try await SocketAddress.resolve(host: "10.231.4.1", port: 1, datagram: false, lookup: { _, _, _ in
            .failure(ResolutionError(host: "literal", reason: "should not be looked up"))
        })
        #expect(literal.description == "10.231.4.1:1")
    }

    @Test func unixPathsMustFitSunPath() {
        #expect(SocketAddress(unixPath: "/run/wirenet/wg0.sock")?.description == "/run/wirenet/wg0.sock")
        #expect(SocketAddress(unixPath: "/" + String(repeating: "x", count: 120)) == nil)
        #expect(SocketAddress(unixPath: "") == nil)
    }
}

/// Marks the resolver's queue, so that a lookup can tell where it runs.
nonisolated(unsafe) private let onResolverQueue = DispatchSpecificKey<String>()
