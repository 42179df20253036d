import Foundation
import NetStack
import Testing
import Wire
import WireNet
@testable import WireNetCLI

/// Issue 14: a peer that vanishes during an idle or half-closed splice must not hold a tunnel
/// connection and a host descriptor forever — both sides of every forwarded connection run keepalive.
@Suite("Forwarders keep connections alive", .serialized)
struct ForwardingKeepaliveTests {
    #if CLI  // NodeOptions is the command's argument parsing (the CLI package trait).
    @Test("RFC 1122 §4.2.3.6: the CLI's node runs keepalive on tunnel connections by default")
    func tunnelKeepaliveByDefault() throws {
        let options = try NodeOptions.parse([]).nodeOptions
        let keepalive = try #require(options.tcp.keepalive)
        #expect(keepalive == ForwardingKeepalive.tunnel)
        // A dead peer is found within minutes, not the 2 hours of RFC 1122's default.
        #expect(keepalive.idle + keepalive.interval * keepalive.count <= .seconds(180))
    }
    #endif

    @Test("RFC 1122 §4.2.3.6: both host sockets of a spliced connection (serve and forward) run keepalive")
    func hostSocketsKeepalive() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let service = try HostListener(address: try loopback(0), reactor: reactor)
        let serviceTask = Task {
            let connection = try #require(try await service.accept())
            let first = try await connection.read()
            try await connection.write(first ?? [])
            while try await connection.read() != nil {}
            connection.close()
        }
        let serve = try await TCPServeForwarder(
            rule: try ServeRule(parsing: "tcp:7010=127.0.0.1:\(service.localAddress.port)"), target: service.localAddress,
            node: pair.server, reactor: reactor, logger: quietLogger)
        let forward = try await TCPForwardForwarder(
            rule: ForwardRule(proto: .tcp, bind: HostPort(host: "127.0.0.1", port: 0), target: IPEndpoint(IPAddress(TunnelPair.serverAddress)!, 7010)),
            node: pair.client, reactor: reactor, logger: quietLogger)
        let serving = Task { await serve.run() }
        let forwarding = Task { await forward.run() }

        let client = try await HostStream.connect(to: forward.localAddress, reactor: reactor)
        try await client.write([1, 2, 3])
        #expect(try await client.read() == [1, 2, 3])  // both splices are running
        // /proc/net/tcp "tr" 2 is the keepalive timer; an idle socket without SO_KEEPALIVE shows 0.
        let forwardSide = try #require(establishedSockets().first { $0.localPort == forward.localAddress.port })
        let serveSide = try #require(establishedSockets().first { $0.remotePort == service.localAddress.port })
        #expect(forwardSide.timer == 2, "forward rule's accepted host socket: \(forwardSide)")
        #expect(serveSide.timer == 2, "serve rule's host socket to the service: \(serveSide)")

        client.shutdownWrite()
        while try await client.read() != nil {}
        client.close()
        try await serviceTask.value
        serve.close()
        forward.close()
        await serving.value
        await forwarding.value
        service.close()
    }

    struct KernelSocket: CustomStringConvertible {
        var localPort: UInt16
        var remotePort: UInt16
        var timer: Int
        var description: String { "local :\(localPort) remote :\(remotePort) timer \(timer)" }
    }

    /// Established IPv4 TCP sockets of this network namespace, from /proc/net/tcp.
    func establishedSockets() throws -> [KernelSocket] {
        // Not String(contentsOfFile:): procfs reports size 0 and Foundation then reads one 4 KiB page,
        // about 27 sockets; a full test run has many more. FileHandle reads until end of file.
        guard let file = FileHandle(forReadingAtPath: "/proc/net/tcp") else { throw CocoaError(.fileReadNoPermission) }
        defer { try? file.close() }
        let text = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 5, fields[3] == "01" else { return nil }
            func port(_ field: Substring) -> UInt16? { field.split(separator: ":").last.flatMap { UInt16($0, radix: 16) } }
            guard let local = port(fields[1]), let remote = port(fields[2]),
                let timer = fields[5].split(separator: ":").first.flatMap({ Int($0, radix: 16) })
            else { return nil }
            return KernelSocket(localPort: local, remotePort: remote, timer: timer)
        }
    }
}
