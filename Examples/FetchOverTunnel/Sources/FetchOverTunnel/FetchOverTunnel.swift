import AsyncHTTPClient
import Foundation
import WireNet
import WireNetNIO

/// Fetches a URL from a peer with AsyncHTTPClient, through the node, and writes the body to stdout.
///
/// Usage: `FetchOverTunnel <wg-quick.conf> <url>`, e.g. `FetchOverTunnel wg0.conf http://100.64.0.2:8000/file`.
/// The exit status is 0 for a 2xx answer, 1 for another status, 2 for bad usage or a failure.
@main
struct FetchOverTunnel {
    static func main() async {
        let arguments = CommandLine.arguments
        guard arguments.count == 3 else {
            fail("usage: FetchOverTunnel <wg-quick.conf> <url>")
        }
        do {
            let node = Node(configuration: try NodeConfiguration(contentsOfFile: arguments[1]))
            try await node.start()
            // AsyncHTTPClient takes no connection factory; its SOCKS proxy setting is the way in.
            let front = try await SOCKSFront.start(node: node)
            let client = HTTPClient(configuration: .init(proxy: .socksServer(host: "127.0.0.1", port: front.port)))
            let status: UInt
            do {
                let response = try await client.execute(HTTPClientRequest(url: arguments[2]), timeout: .seconds(60))
                status = response.status.code
                for try await chunk in response.body {
                    FileHandle.standardOutput.write(Data(chunk.readableBytesView))
                }
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
            front.close()
            await node.close()
            if !(200..<300).contains(status) {
                FileHandle.standardError.write(Data("FetchOverTunnel: HTTP status \(status)\n".utf8))
                exit(1)
            }
        } catch {
            fail("FetchOverTunnel: \(error)")
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(2)
    }
}
