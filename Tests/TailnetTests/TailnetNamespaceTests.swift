import Foundation
import NetTestSupport
import Testing

/// Two nodes in network namespaces of their own, joined only through what the netmap gave them.
///
/// ```
///  tn-a (10.251.2.2) ──veth── tn-c router + control (10.251.2.1 | 10.251.3.1) ──veth── tn-b (10.251.3.2)
/// ```
/// The router namespace forwards between the two links (its own ip_forward), so each node reaches
/// the other only at the endpoint it reported to control.
@Suite(.serialized, .enabled(if: TailnetLab.available && Shell.has("ip"),
                             "needs root, ip, Go, curl, python3, and wirenet with libwirenetcontrol.so beside it"))
struct TailnetNamespaceTests {
    /// The router and the two node namespaces, joined by veths that live only inside them (no end in
    /// the root namespace). The namespaces are ``NetworkNamespace``s, so they are recorded in a
    /// ``ResourceJournal`` (this process's by default): when the test process is killed, its reaper
    /// deletes them, and with them the veths and everything still running inside (the control server
    /// and whatever it started, the nodes, the python servers). Removed on `destroy()` or deinit.
    final class Topology: @unchecked Sendable {
        let router: NetworkNamespace
        let a: NetworkNamespace
        let b: NetworkNamespace
        private let linkTag: String
        nonisolated(unsafe) private static var counter = 0
        private static let lock = NSLock()

        init(journal: ResourceJournal? = ResourceJournal.process) throws {
            let n = Self.lock.withLock { () -> Int in Self.counter += 1; return Self.counter }
            // Interface names hold at most 15 bytes: "t<pid>x<n>ca".
            linkTag = "t\(getpid() % 100_000)x\(n)"
            var made: [NetworkNamespace] = []
            do {
                for tag in ["tnc", "tna", "tnb"] { made.append(try NetworkNamespace(tag: tag, journal: journal)) }
            } catch {
                made.forEach { $0.destroy() }
                throw error
            }
            (router, a, b) = (made[0], made[1], made[2])
            do {
                try link(router, "\(linkTag)ca", "10.251.2.1/24", a, "\(linkTag)ac", "10.251.2.2/24", gateway: "10.251.2.1")
                try link(router, "\(linkTag)cb", "10.251.3.1/24", b, "\(linkTag)bc", "10.251.3.2/24", gateway: "10.251.3.1")
                try router.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            } catch {
                destroy()
                throw error
            }
        }

        private func link(_ left: NetworkNamespace, _ leftName: String, _ leftAddress: String,
                          _ right: NetworkNamespace, _ rightName: String, _ rightAddress: String, gateway: String) throws {
            try Shell.run(["ip", "link", "add", leftName, "netns", left.name, "type", "veth",
                           "peer", "name", rightName, "netns", right.name])
            try left.exec(["ip", "addr", "add", leftAddress, "dev", leftName])
            try right.exec(["ip", "addr", "add", rightAddress, "dev", rightName])
            try left.exec(["ip", "link", "set", leftName, "up"])
            try right.exec(["ip", "link", "set", rightName, "up"])
            try right.exec(["ip", "route", "add", "default", "via", gateway])
        }

        func destroy() {
            for namespace in [a, b, router] { namespace.destroy() }
        }

        deinit { destroy() }
    }

    @Test func nodesInSeparateNamespacesExchangeTCPAndUDPByName() async throws {
        let topology = try Topology()
        defer { topology.destroy() }
        let scratch = try ScratchDirectory()
        let wirenet = try #require(WirenetBinary.path)
        let control = try WirenetProcess(["netns", "exec", topology.router.name, "/bin/bash", "\(TailnetLab.repository)/scripts/testcontrol.sh",
                                          "--listen", "10.251.2.1:9911", "--authkey", "tskey-ns"],
                                         executable: "/usr/sbin/ip", scratch: scratch)
        let ready = await control.firstLine(within: .seconds(240))
        #expect(ready == "ready http://10.251.2.1:9911", "\(control.stderr.suffix(1000))")
        let key = try scratch.write("key", "tskey-ns\n")
        let www = scratch.path("www")
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        try makeRandomFile(www + "/blob", megabytes: 8)

        func up(_ namespace: String, _ name: String, _ extra: [String]) throws -> WirenetProcess {
            try WirenetProcess(["netns", "exec", namespace, wirenet, "up", "--control-url", "http://10.251.2.1:9911",
                                "--authkey-file", key, "--hostname", name, "--state", scratch.path(name),
                                "--control-socket", scratch.path("\(name).sock")] + extra,
                               executable: "/usr/sbin/ip", scratch: scratch)
        }
        let web = try WirenetProcess(["netns", "exec", topology.a.name, "python3", "-m", "http.server", "8080", "--bind", "127.0.0.1",
                                      "--directory", www], executable: "/usr/sbin/ip", scratch: scratch)
        let echoScript = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 5353))
            while True:
                data, address = s.recvfrom(65535)
                s.sendto(data, address)
            """
        let echo = try WirenetProcess(["netns", "exec", topology.a.name, "python3", "-c", echoScript], executable: "/usr/sbin/ip", scratch: scratch)
        defer { _ = (web, echo) }
        let serving = await TailnetLab.eventually {
            (try? Shell.run(["ip", "netns", "exec", topology.a.name, "curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:8080/"])) != nil
        }
        #expect(serving, "the web server in \(topology.a.name) did not start: \(web.stderr.suffix(500))")
        let server = try up(topology.a.name, "lima", ["--serve", "80=127.0.0.1:8080", "--serve", "udp:53=127.0.0.1:5353"])
        let serverReady = await server.firstLine(within: .seconds(30))
        #expect(serverReady?.hasPrefix("ready 100.64.") == true, "\(server.stderr.suffix(1500))")
        let client = try up(topology.b.name, "mike", ["--forward", "8081=lima:80", "--forward", "udp:5354=lima.tailnet.test:53"])
        let clientReady = await client.firstLine(within: .seconds(30))
        #expect(clientReady?.hasPrefix("ready 100.64.") == true, "\(client.stderr.suffix(1500))")

        let expected = try sha256(ofFile: www + "/blob")
        let fetched = try Shell.run(["bash", "-c", "ip netns exec \(topology.b.name) curl -sf --max-time 60 http://127.0.0.1:8081/blob | sha256sum"])
        #expect(String(fetched.prefix(64)) == expected)
        let udpClient = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            seen = 0
            for i in range(10):
                s.sendto(b"ping-%d" % i, ("127.0.0.1", 5354))
                try:
                    if s.recvfrom(65535)[0] == b"ping-%d" % i: seen += 1
                except socket.timeout:
                    pass
            print(seen)
            """
        let echoed = try Shell.run(["ip", "netns", "exec", topology.b.name, "python3", "-c", udpClient])
        #expect((Int(echoed.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 9)

        // The endpoint each node uses for the other is the one the other reported from its namespace.
        let status = try Shell.run([wirenet, "status", "--json", "--socket", scratch.path("mike.sock")])
        #expect(status.contains("10.251.2.2:"))
        server.signal(SIGTERM)
        client.signal(SIGTERM)
        #expect(await server.waitForExit() == 0)
        #expect(await client.waitForExit() == 0)
        control.signal(SIGTERM)
        _ = await control.waitForExit(within: .seconds(5))
    }
}

/// ``TailnetNamespaceTests/Topology`` is journaled: needs only root and ip, not the tailnet lab.
@Suite(.enabled(if: Shell.isRoot && Shell.has("ip"), "needs root and ip"))
struct TailnetTopologyJournalTests {
    /// A test process killed mid-test (a sanitizer's halt, SIGKILL, a CI timeout) runs no `defer` and
    /// no deinit: the journal's reaper must delete the topology's three namespaces, and with them what
    /// runs inside — here a process the journal never recorded, as the control server's own children
    /// are not. `endOwnership()` ends the journal as the kernel does when its process dies.
    @Test func aTopologyLeftBehindByAKilledProcessIsReaped() throws {
        let journal = try ResourceJournal()
        let topology = try TailnetNamespaceTests.Topology(journal: journal)
        let inside = try Shell.spawn(["ip", "netns", "exec", topology.router.name, "sleep", "600"], journal: nil)
        defer { inside.stop() }
        let names = [topology.router.name, topology.a.name, topology.b.name]

        let reaped = journal.endOwnership()

        #expect(Set(reaped) == Set(names.map { "reaped netns \($0)" }), "\(reaped)")
        let left = Set(try Shell.run(["ip", "netns", "list"]).split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        #expect(left.isDisjoint(with: names), "\(left)")
        let deadline = ContinuousClock.now + .seconds(10)
        while inside.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        #expect(!inside.isRunning, "the process inside the router namespace survived the reaper")
        try? FileManager.default.removeItem(atPath: journal.path)
    }
}
