import Foundation
import NetTestSupport
import Testing

/// The UDP half of the interop suite over the node's kernel TUN: datagrams both ways between the
/// host's sockets behind the TUN interface (in `hostNamespace`) and the peer's, IPv4 and IPv6, up to
/// the largest that fits the tunnel's MTU (1420 − 48 for IPv6).
func exchangeDatagramsThroughTheHostStack(_ interop: Interop, _ hostNamespace: NetworkNamespace) async throws {
    let peerNamespace = interop.peer.namespace
    try await waitForTunnel(from: peerNamespace, to: Interop.nodeV4)

    // The kernel peer sends first, to an echo server on the node's side.
    let nodeEcho = try UDPEcho(port: 7000, in: hostNamespace)
    for (family, node) in [("UDP4", Interop.nodeV4), ("UDP6", "[\(Interop.nodeV6)]")] {
        let text = "hello from the kernel over \(family)"
        let echoed = try await socatRoundTrip(text, to: "\(family):\(node):\(nodeEcho.port)", in: peerNamespace,
                                              scratch: interop.peer.directory)
        #expect(echoed == text, "\(family)")
    }

    // The node's side sends first, to an echo server behind the peer, with small and largest datagrams.
    let peerEcho = try UDPEcho(port: 6000, in: peerNamespace)
    for (family, peer) in [("UDP4", KernelPeer.tunnelV4), ("UDP6", "[\(KernelPeer.tunnelV6)]")] {
        for size in [1, 512, 1420 - 48] {
            let payload = String((0..<size).map { Character(UnicodeScalar(UInt8(97 + ($0 &* 7 &+ size) % 26))) })
            let echoed = try await socatRoundTrip(payload, to: "\(family):\(peer):\(peerEcho.port)", in: hostNamespace,
                                                  scratch: interop.peer.directory)
            #expect(echoed == payload, "\(family) \(size) bytes")
        }
    }
    let drops = try await interop.wireGuardStatus().drops
    #expect(drops.total == 0, "\(drops)")
}

/// Sends `text` as one datagram with socat from `namespace` to `address` and returns what came back
/// within 2 s of sending.
private func socatRoundTrip(_ text: String, to address: String, in namespace: NetworkNamespace, scratch: URL) async throws -> String {
    let input = scratch.appendingPathComponent("datagram-\(UUID().uuidString)")
    try text.write(to: input, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: input) }
    return try await detached { try namespace.exec(["socat", "-t", "2", "OPEN:\(input.path)!!STDOUT", address]) }
}
