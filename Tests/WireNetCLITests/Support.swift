import NetTestSupport
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

    /// `serverOptions`: the server node's options (e.g. the CLI's, parsed from a command line).
    static func start(serverOptions: Node.Options = Node.Options()) async throws -> TunnelPair {
        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let server = Node(configuration: NodeConfiguration(
            privateKey: serverKey, addresses: [IPPrefix("\(serverAddress)/32")!],
            peers: [.init(publicKey: clientKey.publicKey, allowedIPs: [IPPrefix("\(clientAddress)/32")!])]),
            options: serverOptions, logger: quietLogger)
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
    try SocketAddress(numericHost: "127.0.0.1", port: port)
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


/// Lower-case hex.
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
}
