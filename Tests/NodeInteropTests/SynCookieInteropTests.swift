import Foundation
import NetStack
import NetTestSupport
import Testing
import Wire
import WireGuard
@testable import WireNet

/// Linux TCP (curl in a namespace, behind wireguard-go) connects to a node listener whose SYN queue
/// is full, so that the handshake completes by SYN cookie (issue 14). Underlay 10.232.7.0/24, so
/// that it can run beside the other interop suites.
@Suite("SYN cookies against Linux TCP", .serialized,
       .enabled(if: Shell.isRoot && ["wireguard-go", "wg", "curl", "/usr/bin/python3"].allSatisfy(Shell.has),
                "needs root for network namespaces, and the tools of scripts/bootstrap.sh"))
struct SynCookieInteropTests {
    static let underlay = (host: "10.232.7.1", peer: "10.232.7.2")

    @Test func curlDownloadsThroughAConnectionEstablishedBySynCookie() async throws {
        try await Interop.run(underlay: Self.underlay) { interop in
            let file = try RandomFile(megabytes: 20)
            let server = try HTTPServer(serving: file.directory, address: "127.0.0.1", port: try freeLoopbackPort())
            defer { server.stop() }
            // Backlog 1: one half-open connection fills the SYN queue.
            let forward = LoopbackForward(listener: try await interop.node.listen(tcp: 8080, backlog: 1), localPort: server.port)
            defer { forward.close() }
            try await waitForTunnel(from: interop.peer.namespace, to: Interop.nodeV4)
            let (engine, stack) = try interop.node.running()
            // A SYN from an address the peer is not allowed to use: its SYN,ACK is dropped by
            // WireGuard, so it stays half-open (6 SYN,ACK retransmissions, about two minutes).
            let before = try await engine.query { engine in
                let syn = Self.spoofedSyn(from: IPEndpoint(IPAddress("100.64.7.99")!, 40000),
                                          to: IPEndpoint(IPAddress(Interop.nodeV4)!, 8080))
                syn.withUnsafeBytes { stack.stack.receive($0, now: engine.clock.now()) }
                return stack.stack.counters
            }
            #expect(before.tcpSynCookiesSent == 0)
            let download = try await curl(in: interop.peer, url: "http://\(Interop.nodeV4):8080/\(file.name)", into: file)
            #expect(download.size == file.size)
            #expect(download.sha256 == file.sha256)
            #expect(forward.errors.isEmpty, "\(forward.errors)")
            var after = try await engine.query { _ in stack.stack.counters }
            #expect(after.tcpSynCookiesSent >= 1)
            #expect(after.tcpSynCookiesValidated == 1)
            // Again with the kernel's timestamps off (a per-namespace sysctl): the cookie then carries
            // no window scale or SACK, and the download still completes.
            _ = try interop.peer.namespace.exec(["sysctl", "-w", "net.ipv4.tcp_timestamps=0"])
            let second = try await curl(in: interop.peer, url: "http://\(Interop.nodeV4):8080/\(file.name)", into: file)
            #expect(second.size == file.size)
            #expect(second.sha256 == file.sha256)
            after = try await engine.query { _ in stack.stack.counters }
            #expect(after.tcpSynCookiesValidated == 2)
            #expect(after.tcpSynCookiesRejected == 0)
            #expect(after.tcpSynQueueEvictions == 0)
            report("curl through a connection established by SYN cookie, 20 MiB", bitsPerSecond: download.bitsPerSecond)
            report("curl (no timestamps) through a connection established by SYN cookie, 20 MiB", bitsPerSecond: second.bitsPerSecond)
        }
    }

    static func spoofedSyn(from source: IPEndpoint, to destination: IPEndpoint) -> [UInt8] {
        guard case .v4(let s) = source.address, case .v4(let d) = destination.address else { return [] }
        let tcp = TCPHeader(
            sourcePort: source.port, destinationPort: destination.port, sequenceNumber: 12345,
            acknowledgmentNumber: 0, flags: .syn, window: 65535, options: TCPOptions(maximumSegmentSize: 1380))
        var packet = [UInt8](repeating: 0, count: IPv4Header.length + tcp.length)
        packet.withUnsafeMutableBytes { raw in
            try! IPv4Header(source: s, destination: d, protocol: .tcp, payloadLength: tcp.length).emit(into: raw)
            try! tcp.emit(into: UnsafeMutableRawBufferPointer(rebasing: raw[IPv4Header.length...]), source: s, destination: d)
        }
        return packet
    }
}
