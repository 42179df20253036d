import Foundation
import NetTestSupport
import Wire
import WireGuard
import WireNet

/// A real peer for the bridge tests: wireguard-go on a TUN device in a network namespace this test
/// creates, with the Linux kernel's TCP/IP stack (and curl) behind it, and a ``Node`` in this process.
///
/// Underlay: a veth pair, root side 10.251.7.1/24 (the node's UDP socket), namespace side
/// 10.251.7.2/24. Tunnel: the node is 100.65.7.1, the kernel side 100.65.7.2/24.
final class TunnelPeer: @unchecked Sendable {
    static let underlayHost = "10.251.7.1"
    static let underlayPeer = "10.251.7.2"
    static let nodeAddress = "100.65.7.1"
    static let peerAddress = "100.65.7.2"
    static let peerPort: UInt16 = 51820

    let node: Node
    let namespace: NetworkNamespace
    let link: VethLink
    let interface: String
    private let process: BackgroundProcess
    private let directory: URL

    /// Starts a node and a wireguard-go peer that know each other, and waits until a ping crosses.
    static func start() async throws -> TunnelPeer {
        let peerKey = PrivateKey()
        let configuration = NodeConfiguration(
            privateKey: PrivateKey(),
            addresses: [IPPrefix("\(nodeAddress)/32")!],
            peers: [.init(publicKey: peerKey.publicKey,
                          endpoint: PeerEndpoint(host: underlayPeer, port: peerPort),
                          allowedIPs: [IPPrefix("\(peerAddress)/32")!])])
        let node = Node(configuration: configuration)
        try await node.start()
        do {
            let port = try await node.status().listenPort
            let peer = try TunnelPeer(node: node, privateKey: peerKey, nodePort: port)
            try await peer.waitForTunnel()
            return peer
        } catch {
            await node.close()
            throw error
        }
    }

    private init(node: Node, privateKey: PrivateKey, nodePort: UInt16) throws {
        self.node = node
        interface = "nbwg\(getpid() % 100_000)"
        Self.removeLeftovers()
        namespace = try NetworkNamespace(tag: "nb")
        link = try VethLink(to: namespace, hostAddress: "\(Self.underlayHost)/24", namespaceAddress: "\(Self.underlayPeer)/24")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wirenet-nio-\(interface)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let keyFile = directory.appendingPathComponent("private")
        try (privateKey.base64 + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        process = try namespace.spawn(["wireguard-go", interface], environment: ["WG_PROCESS_FOREGROUND": "1"])
        let socket = "/var/run/wireguard/\(interface).sock"
        let deadline = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: socket) {
            guard process.isRunning, Date() < deadline else {
                throw PeerFailure("wireguard-go did not open \(socket): \(process.output)")
            }
            usleep(20_000)
        }
        try namespace.exec(["wg", "set", interface, "private-key", keyFile.path, "listen-port", "\(Self.peerPort)",
                            "peer", node.publicKey.description, "allowed-ips", "\(Self.nodeAddress)/32",
                            "endpoint", "\(Self.underlayHost):\(nodePort)"])
        try namespace.exec(["ip", "addr", "add", "\(Self.peerAddress)/24", "dev", interface])
        try namespace.exec(["ip", "link", "set", interface, "up"])
    }

    /// Deletes the veth of a run that crashed before its cleanup: 10.251.7.0/24 is this suite's
    /// alone, and a stale 10.251.7.1 would take the new run's underlay traffic.
    private static func removeLeftovers() {
        guard let listing = try? Shell.run(["ip", "-o", "-4", "addr", "show", "to", "\(underlayHost)/32"]) else { return }
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 1 else { continue }
            _ = try? Shell.run(["ip", "link", "del", String(fields[1].split(separator: "@")[0])])
        }
    }

    private func waitForTunnel() async throws {
        let deadline = Date().addingTimeInterval(15)
        while (try? namespace.exec(["ping", "-c", "1", "-W", "1", Self.nodeAddress])) == nil {
            guard Date() < deadline else { throw PeerFailure("no ping through the tunnel to \(Self.nodeAddress)") }
        }
    }

    /// Starts a node and its peer, runs `body`, and stops both whether `body` throws or not (before
    /// returning: a `defer { Task { … } }` may never run once the test process exits).
    static func with(_ body: (TunnelPeer) async throws -> Void) async throws {
        let peer = try await start()
        do {
            try await body(peer)
        } catch {
            await peer.stop()
            throw error
        }
        await peer.stop()
    }

    /// Runs a command in the peer's namespace on a thread of its own: a detached task would still
    /// block a cooperative-pool thread for the whole `curl`, which the bridge's tasks need (a loaded
    /// parallel run saw the 64 MiB download stall that way until curl gave up).
    func exec(_ command: [String]) async throws -> String {
        let namespace = self.namespace
        return try await onOwnThread { try namespace.exec(command) }.get()
    }

    /// Stops everything: the node, wireguard-go, the namespace and the veth pair.
    func stop() async {
        await node.close()
        process.stop()
        link.destroy()
        namespace.destroy()
        try? FileManager.default.removeItem(at: directory)
    }
}

struct PeerFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
