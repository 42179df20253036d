import CSodium
import Logging
import Wire
import WireGuard
@testable import WireNet

/// Two nodes in this process joined over UDP loopback: `server` listens on an ephemeral port and
/// learns `client`'s endpoint from its handshake (roaming); `client` is configured with the server's.
struct NodePair {
    let server: Node
    let client: Node
    static let serverAddress = "100.64.10.1"
    static let clientAddress = "100.64.10.2"

    static func start(mtu: Int = NodeConfiguration.defaultMTU, options: Node.Options = Node.Options(),
                      presharedKey: PresharedKey? = nil) async throws -> NodePair {
        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let server = Node(configuration: NodeConfiguration(
            privateKey: serverKey, addresses: [IPPrefix("\(serverAddress)/32")!, IPPrefix("fd7a:115c:a1e0:10::1/128")!],
            mtu: mtu,
            peers: [.init(publicKey: clientKey.publicKey, presharedKey: presharedKey,
                          allowedIPs: [IPPrefix("\(clientAddress)/32")!, IPPrefix("fd7a:115c:a1e0:10::2/128")!])]),
            options: options, logger: quietLogger)
        try await server.start()
        let port = try await server.status().listenPort
        let client = Node(configuration: NodeConfiguration(
            privateKey: clientKey, addresses: [IPPrefix("\(clientAddress)/32")!, IPPrefix("fd7a:115c:a1e0:10::2/128")!],
            mtu: mtu,
            peers: [.init(publicKey: serverKey.publicKey, presharedKey: presharedKey,
                          endpoint: PeerEndpoint(host: "127.0.0.1", port: port),
                          allowedIPs: [IPPrefix("100.64.10.0/24")!, IPPrefix("fd7a:115c:a1e0:10::/64")!])]),
            options: options, logger: quietLogger)
        try await client.start()
        return NodePair(server: server, client: client)
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "wirenet-test")
        logger.logLevel = .warning
        return logger
    }

    func close() async {
        await client.close()
        await server.close()
    }
}

/// SHA-256 (libsodium) of everything fed to it, for byte-exact transfer checks.
struct SHA256Digest {
    private var state = crypto_hash_sha256_state()
    init() { crypto_hash_sha256_init(&state) }
    mutating func update(_ bytes: [UInt8]) { crypto_hash_sha256_update(&state, bytes, UInt64(bytes.count)) }
    mutating func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&state, &out)
        return out
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a transfer's content is not a repeating pattern.
struct PatternSource {
    private var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            out[i] = UInt8(truncatingIfNeeded: state)
        }
        return out
    }
}
