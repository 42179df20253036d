import Foundation
import Locking
import Logging
import NetTestSupport
import Testing
import Wire
import WireGuard
@testable import WireNet

/// A ``Node`` in this process (UDP on every address, reached by the peer at 10.250.7.1) joined to a
/// ``KernelPeer``: node tunnel addresses 100.64.7.1/32 and fd7a:115c:a1e0:7::1/128.
///
/// The node's packet path is either of its backends (``Backend``): its own userspace stack, used
/// through the node's sockets, or a kernel TUN device. The TUN device is moved into a network
/// namespace of its own (``hostNamespace``) so that the tunnel addresses never reach the root
/// namespace; programs there (curl, http.server, socat, ping) are the node's side.
struct Interop: Sendable {
    static let nodeV4 = "100.64.7.1"
    static let nodeV6 = "fd7a:115c:a1e0:7::1"

    /// What carries the node's tunnel packets.
    enum Backend: String, Sendable, CaseIterable, CustomTestStringConvertible {
        case userspace
        case kernelTUN
        var testDescription: String { rawValue }
    }

    let node: Node
    let peer: KernelPeer
    let nodePort: UInt16
    let backend: Backend
    /// With ``Backend/kernelTUN``: the namespace that holds the node's TUN interface (the host's
    /// TCP/IP stack behind the node); nil with the userspace stack.
    let hostNamespace: NetworkNamespace?

    /// The node's view of the kernel peer.
    var peerConfiguration: NodeConfiguration.Peer {
        NodeConfiguration.Peer(
            publicKey: peer.publicKey, presharedKey: peer.presharedKey,
            endpoint: PeerEndpoint(host: peer.underlay.peer, port: KernelPeer.defaultListenPort),
            allowedIPs: [IPPrefix("\(KernelPeer.tunnelV4)/32")!, IPPrefix("\(KernelPeer.tunnelV6)/128")!])
    }

    /// Starts the node and the peer, runs `body`, and tears both down whether it throws or not.
    static func run(backend: Backend = .userspace, presharedKey: PresharedKey? = nil, mtu: Int? = nil,
                    underlay: (host: String, peer: String) = (KernelPeer.underlayHost, KernelPeer.underlayPeer),
                    _ body: (Interop) async throws -> Void) async throws {
        let peerKey = PrivateKey()
        var configuration = NodeConfiguration(
            privateKey: PrivateKey(),
            addresses: [IPPrefix("\(nodeV4)/32")!, IPPrefix("\(nodeV6)/128")!],
            peers: [.init(publicKey: peerKey.publicKey, presharedKey: presharedKey,
                          endpoint: PeerEndpoint(host: underlay.peer, port: KernelPeer.defaultListenPort),
                          allowedIPs: [IPPrefix("\(KernelPeer.tunnelV4)/32")!, IPPrefix("\(KernelPeer.tunnelV6)/128")!])])
        if let mtu { configuration.mtu = mtu }
        var logger = Logger(label: "wirenet-interop")
        logger.logLevel = ProcessInfo.processInfo.environment["WIRENET_INTEROP_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        var options = Node.Options()
        var hostNamespace: NetworkNamespace?
        if backend == .kernelTUN {
            hostNamespace = try NetworkNamespace(tag: "nt")
            options.packetPath = .kernelTUN(name: tunName(), configure: false)
        }
        let node = Node(configuration: configuration, options: options, logger: logger)
        try await node.start()
        do {
            if let hostNamespace { try moveTUN(of: node, into: hostNamespace, mtu: configuration.mtu) }
            let port = try await node.status().listenPort
            let peer = try KernelPeer(privateKey: peerKey, nodeKey: node.publicKey, nodePort: port,
                                      presharedKey: presharedKey, mtu: mtu, underlay: underlay)
            let interop = Interop(node: node, peer: peer, nodePort: port, backend: backend, hostNamespace: hostNamespace)
            do {
                try await body(interop)
            } catch {
                // Both sides' view, for the failure report.
                let kernel = (try? peer.show("dump")) ?? "(wg show failed)"
                let ours = (try? await node.status().description) ?? "(status failed)"
                print("NodeInterop failure state:\nwireguard-go (wg show dump):\n\(kernel)\nnode:\n\(ours)\nwireguard-go log:\n\(peer.log.suffix(2000))")
                throw error
            }
        } catch {
            await node.close()
            throw error
        }
        await node.close()
    }

    /// A TUN interface name unique to this process and call.
    private static func tunName() -> String {
        let n = tunCounter.withLock { counter -> Int in counter += 1; return counter }
        return "wnt\(getpid() % 100_000)x\(n)"
    }
    private static let tunCounter = Lock(0)

    /// Moves the node's TUN interface into `namespace` and sets it up there with the node's addresses;
    /// the prefixes route the peer's addresses (100.64.7.0/24, fd7a:115c:a1e0:7::/64) to it.
    private static func moveTUN(of node: Node, into namespace: NetworkNamespace, mtu: Int) throws {
        guard case .kernelTUN(let name, _) = node.options.packetPath else { return }
        try Shell.run(["ip", "link", "set", name, "netns", namespace.name])
        try namespace.exec(["ip", "link", "set", name, "mtu", "\(mtu)", "up"])
        try namespace.exec(["ip", "addr", "add", "\(nodeV4)/24", "dev", name])
        try namespace.exec(["ip", "-6", "addr", "add", "\(nodeV6)/64", "dev", name, "nodad"])
    }

    /// The node's status entry for the kernel peer.
    func peerStatus() async throws -> NodeStatus.Peer {
        guard let status = try await node.status().peers.first(where: { $0.publicKey == peer.publicKey }) else {
            throw InteropFailure("the node has no peer \(peer.publicKey)")
        }
        return status
    }

    /// WireGuard's full view of the kernel peer inside the node (handshake count, drops by reason).
    func wireGuardStatus() async throws -> PeerStatus {
        let (engine, _) = try node.runningEngine()
        let key = peer.publicKey
        guard let status = try await engine.query({ $0.device.status(of: key) }) else {
            throw InteropFailure("the node has no peer \(key)")
        }
        return status
    }

    /// Forwards connections the node accepts on `port` to 127.0.0.1:`localPort` (`wirenet --serve`).
    func serve(port: UInt16, to localPort: UInt16) async throws -> LoopbackForward {
        LoopbackForward(listener: try await node.listen(tcp: port), localPort: localPort)
    }

    /// Downloads `path` from an HTTP/1.0 server through `node.dial`, hashing the body as it arrives.
    ///
    /// - Parameter progress: called with the body bytes received so far, after each read.
    /// - Returns: the body's length and SHA-256.
    func httpGet(host: String, port: UInt16, path: String,
                 progress: (Int) async throws -> Void = { _ in }) async throws -> (length: Int, sha256: String) {
        let stream = try await node.dial(tcp: host, port: port, timeout: .seconds(5))
        defer { stream.close() }
        try await stream.write("GET \(path) HTTP/1.0\r\nHost: \(host)\r\n\r\n")
        var header: [UInt8] = []
        var digest = SHA256Digest()
        var length = 0
        var inBody = false
        while let chunk = try await stream.read() {
            if inBody {
                digest.update(chunk)
                length += chunk.count
            } else {
                header += chunk
                if let end = header.firstRange(of: Array("\r\n\r\n".utf8)) {
                    let head = String(decoding: header[..<end.lowerBound], as: UTF8.self)
                    guard head.hasPrefix("HTTP/1.0 200") || head.hasPrefix("HTTP/1.1 200") else {
                        throw InteropFailure("HTTP response: \(head)")
                    }
                    let body = header[end.upperBound...]
                    digest.update(Array(body))
                    length += body.count
                    inBody = true
                    header = []
                }
            }
            try await progress(length)
        }
        return (length, digest.finish())
    }
}
