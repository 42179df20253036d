import CSodium
import Logging
import Wire
import WireGuard
import WireNet
@testable import WireNetCLI

/// Two nodes in this process joined over UDP loopback, for forwarding tests (tunnel 100.64.20.0/24).
struct TunnelPair {
    let server: Node
    let client: Node
    static let serverAddress = "100.64.20.1"
    static let clientAddress = "100.64.20.2"

    static func start() async throws -> TunnelPair {
        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let server = Node(configuration: NodeConfiguration(
            privateKey: serverKey, addresses: [IPPrefix("\(serverAddress)/32")!],
            peers: [.init(publicKey: clientKey.publicKey, allowedIPs: [IPPrefix("\(clientAddress)/32")!])]),
            logger: quietLogger)
        try await server.start()
        let port = try await server.status().listenPort
        let client = Node(configuration: NodeConfiguration(
            privateKey: clientKey, addresses: [IPPrefix("\(clientAddress)/32")!],
            peers: [.init(publicKey: serverKey.publicKey, endpoint: PeerEndpoint(host: "127.0.0.1", port: port),
                          allowedIPs: [IPPrefix("\(serverAddress)/32")!])]),
            logger: quietLogger)
        try await client.start()
        return TunnelPair(server: server, client: client)
    }

    func close() async {
        await client.close()
        await server.close()
    }
}

var quietLogger: Logger {
    var logger = Logger(label: "wirenet-cli-test")
    logger.logLevel = .warning
    return logger
}

/// 127.0.0.1 with `port` (0: the kernel picks).
func loopback(_ port: UInt16) throws -> SocketAddress {
    try SocketAddress.resolve(host: "127.0.0.1", port: port)
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held.
func eventually(within limit: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// SHA-256 (libsodium) of everything fed to it.
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

/// Deterministic pseudo-random bytes (xorshift), so a transfer is not a repeating pattern.
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

/// Lower-case hex.
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
}
