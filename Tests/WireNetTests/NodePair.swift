import NetTestSupport
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

