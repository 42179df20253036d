import Glibc
import Logging
import NetStack
import NetTestSupport
import Testing
import Wire
import WireGuard
@testable import WireNet

/// The kernel TUN packet path against Linux's own TCP/IP stack: a node whose tunnel packets go to a
/// TUN interface (moved into a namespace this test creates) talks over UDP loopback to a userspace
/// node. `ping` and `curl` in the namespace reach the userspace node through WireGuard.
@Suite("Kernel TUN packet path", .serialized, .enabled(if: Shell.isRoot, "needs root for TUN and network namespaces"))
struct KernelTUNTests {
    @Test func linuxReachesAUserspaceNodeThroughATUNNode() async throws {
        let tunKey = PrivateKey()
        let stackKey = PrivateKey()
        let tunName = "wntun\(getpid() % 100_000)"

        let stackNode = Node(configuration: NodeConfiguration(
            privateKey: stackKey, addresses: [IPPrefix("100.64.11.1/32")!, IPPrefix("fd7a:115c:a1e0:11::1/128")!],
            peers: [.init(publicKey: tunKey.publicKey, allowedIPs: [IPPrefix("100.64.11.0/24")!, IPPrefix("fd7a:115c:a1e0:11::/64")!])]),
            logger: NodePair.quietLogger)
        try await stackNode.start()
        defer { Task { await stackNode.close() } }
        let stackPort = try await stackNode.status().listenPort

        var options = Node.Options()
        options.packetPath = .kernelTUN(name: tunName, configure: false)
        let tunNode = Node(configuration: NodeConfiguration(
            privateKey: tunKey, addresses: [IPPrefix("100.64.11.2/24")!],
            peers: [.init(publicKey: stackKey.publicKey, endpoint: PeerEndpoint(host: "127.0.0.1", port: stackPort),
                          allowedIPs: [IPPrefix("100.64.11.1/32")!, IPPrefix("fd7a:115c:a1e0:11::1/128")!])]),
            options: options, logger: NodePair.quietLogger)
        try await tunNode.start()
        defer { Task { await tunNode.close() } }

        // The TUN interface lives in the namespace; the node keeps its descriptor.
        let namespace = try NetworkNamespace(tag: "tun")
        defer { namespace.destroy() }
        try Shell.run(["ip", "link", "set", tunName, "netns", namespace.name])
        try namespace.exec(["ip", "addr", "add", "100.64.11.2/24", "dev", tunName])
        try namespace.exec(["ip", "addr", "add", "fd7a:115c:a1e0:11::2/64", "dev", tunName, "nodad"])
        try namespace.exec(["ip", "link", "set", tunName, "mtu", "1420", "up"])

        // Every echo must come back; one retry absorbs a reply lost to a starved scheduler on a loaded
        // 2-core machine (seen once in a full parallel run), while a real fault still fails twice.
        for target in [["100.64.11.1"], ["-6", "fd7a:115c:a1e0:11::1"]] {
            let command = ["ping", "-c", "3", "-i", "0.2", "-W", "3"] + target
            var output = try namespace.exec(command + ["-q"])
            if !output.contains("3 received") {
                print("KernelTUN: retrying after \(output)")
                output = try namespace.exec(command + ["-q"])
            }
            #expect(output.contains("3 received"), "\(output)")
        }

        // curl (Linux TCP) downloads from an HTTP responder on the userspace node.
        let size = 4 << 20
        var source = PatternSource(seed: 7)
        let body = source.next(size)
        var digest = SHA256Digest()
        digest.update(body)
        let expected = digest.finish().map { String(format2: $0) }.joined()
        let listener = try await stackNode.listen(tcp: 8080)
        let server = Task {
            let stream = try #require(try await listener.accept())
            var request: [UInt8] = []
            while !request.ends(with: Array("\r\n\r\n".utf8)), let chunk = try await stream.read() { request += chunk }
            try await stream.write("HTTP/1.0 200 OK\r\nContent-Length: \(size)\r\n\r\n")
            try await stream.write(body)
            stream.close()
        }
        // curl blocks its thread until it is done: not a pool thread, which the server task needs.
        let hash = try await onOwnThread {
            try namespace.exec(["sh", "-c", "curl -sS --max-time 30 http://100.64.11.1:8080/ | sha256sum"])
        }.get()
        #expect(hash.hasPrefix(expected))
        try await server.value

        let status = try await tunNode.status()
        #expect(status.peers.first?.lastHandshakeAge != nil)
        await #expect(throws: NodeError.self) { try await tunNode.listen(tcp: 1) }
    }
}

extension String {
    /// Two lowercase hex digits.
    init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self.init([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
