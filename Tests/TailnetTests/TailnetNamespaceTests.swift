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
    /// Namespaces and links named with this suite's prefix; removed even when the test fails.
    final class Topology: @unchecked Sendable {
        let tag = "tn\(getpid() % 10_000)"
        var router: String { "\(tag)c" }
        var a: String { "\(tag)a" }
        var b: String { "\(tag)b" }

        init() throws {
            destroy()
            do {
                for namespace in [router, a, b] {
                    try Shell.run(["ip", "netns", "add", namespace])
                    try Shell.run(["ip", "-n", namespace, "link", "set", "lo", "up"])
                }
                try link(router, "\(tag)ca", "10.251.2.1/24", a, "\(tag)ac", "10.251.2.2/24", gateway: "10.251.2.1")
                try link(router, "\(tag)cb", "10.251.3.1/24", b, "\(tag)bc", "10.251.3.2/24", gateway: "10.251.3.1")
                try Shell.run(["ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            } catch {
                destroy()
                throw error
            }
        }

        private func link(_ left: String, _ leftName: String, _ leftAddress: String,
                          _ right: String, _ rightName: String, _ rightAddress: String, gateway: String) throws {
            try Shell.run(["ip", "link", "add", leftName, "netns", left, "type", "veth", "peer", "name", rightName, "netns", right])
            try Shell.run(["ip", "-n", left, "addr", "add", leftAddress, "dev", leftName])
            try Shell.run(["ip", "-n", right, "addr", "add", rightAddress, "dev", rightName])
            try Shell.run(["ip", "-n", left, "link", "set", leftName, "up"])
            try Shell.run(["ip", "-n", right, "link", "set", rightName, "up"])
            try Shell.run(["ip", "-n", right, "route", "add", "default", "via", gateway])
        }

        func destroy() {
            for namespace in [a, b, router] { _ = try? Shell.run(["ip", "netns", "del", namespace]) }
        }

        deinit { destroy() }
    }

    @Test func nodesInSeparateNamespacesExchangeTCPAndUDPByName() async throws {
        let topology = try Topology()
        defer { topology.destroy() }
        let scratch = try ScratchDirectory()
        let wirenet = try #require(WirenetBinary.path)
        let control = try WirenetProcess(["netns", "exec", topology.router, "/bin/bash", "\(TailnetLab.repository)/scripts/testcontrol.sh",
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
        let web = try WirenetProcess(["netns", "exec", topology.a, "python3", "-m", "http.server", "8080", "--bind", "127.0.0.1",
                                      "--directory", www], executable: "/usr/sbin/ip", scratch: scratch)
        let echoScript = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 5353))
            while True:
                data, address = s.recvfrom(65535)
                s.sendto(data, address)
            """
        let echo = try WirenetProcess(["netns", "exec", topology.a, "python3", "-c", echoScript], executable: "/usr/sbin/ip", scratch: scratch)
        defer { _ = (web, echo) }
        let serving = await TailnetLab.eventually {
            (try? Shell.run(["ip", "netns", "exec", topology.a, "curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:8080/"])) != nil
        }
        #expect(serving, "the web server in \(topology.a) did not start: \(web.stderr.suffix(500))")
        let server = try up(topology.a, "lima", ["--serve", "80=127.0.0.1:8080", "--serve", "udp:53=127.0.0.1:5353"])
        let serverReady = await server.firstLine(within: .seconds(30))
        #expect(serverReady?.hasPrefix("ready 100.64.") == true, "\(server.stderr.suffix(1500))")
        let client = try up(topology.b, "mike", ["--forward", "8081=lima:80", "--forward", "udp:5354=lima.tailnet.test:53"])
        let clientReady = await client.firstLine(within: .seconds(30))
        #expect(clientReady?.hasPrefix("ready 100.64.") == true, "\(client.stderr.suffix(1500))")

        let expected = try sha256(ofFile: www + "/blob")
        let fetched = try Shell.run(["bash", "-c", "ip netns exec \(topology.b) curl -sf --max-time 60 http://127.0.0.1:8081/blob | sha256sum"])
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
        let echoed = try Shell.run(["ip", "netns", "exec", topology.b, "python3", "-c", udpClient])
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
