import Foundation
import Locking
import NIOCore
import NIOHTTP1
import NetTestSupport
import Testing
import WireNet
import WireNetNIO

/// The bridge against real peers: NIO pipelines served on the tunnel through
/// ``WireNetServerBootstrap``, and NIO clients dialling through ``WireNetClientBootstrap``, with
/// wireguard-go, the Linux kernel's TCP, curl and Python on the other side.
@Suite("NIO on the tunnel with wireguard-go, curl and Python", .serialized,
       .enabled(if: Shell.isRoot && ["wireguard-go", "wg", "curl", "sha256sum", "/usr/bin/python3"].allSatisfy(Shell.has),
                "needs root, wireguard-go, wg, curl, sha256sum and python3"))
struct NIOServerOnTunnelTests {
    static let port: UInt16 = 8080
    static let url = "http://\(TunnelPeer.nodeAddress):\(port)"

    /// Runs `body` with a node, its wireguard-go peer and the HTTP server of ``PatternHTTPServer``
    /// on the tunnel, and tears them all down.
    func withServer(_ body: (TunnelPeer, PatternHTTPServer) async throws -> Void) async throws {
        try await TunnelPeer.with { peer in
            let server = PatternHTTPServer()
            try await withThrowingTaskGroup { group in
                let channel = try await server.bind(node: peer.node, port: Self.port)
                group.addTask { try await server.serve(channel) }
                defer { group.cancelAll() }
                try await body(peer, server)
            }
        }
    }

    @Test func curlDownloads64MiBWithTheRightSHA256() async throws {
        try await withServer { peer, _ in
            let count = 64 << 20
            let got = try await peer.exec(["sh", "-c", "curl -sS --fail --max-time 120 \(Self.url)/bytes/\(count) | sha256sum"])
            #expect(got.prefix(64) == PatternHTTPServer.sha256(count: count))
        }
    }

    @Test func curlUploads32MiBAndGetsItBackStreamedAsItIsSent() async throws {
        try await withServer { peer, _ in
            let file = "/tmp/nb-upload-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: file) }
            _ = try await peer.exec(["sh", "-c", "head -c \(32 << 20) /dev/urandom > \(file)"])
            let sent = try await peer.exec(["sha256sum", file])
            let echoed = try await peer.exec(["sh", "-c",
                "curl -sS --fail --max-time 120 -H 'Expect:' -H 'Transfer-Encoding: chunked' --data-binary @\(file) \(Self.url)/echo | sha256sum"])
            #expect(echoed.prefix(64) == sent.prefix(64))
        }
    }

    @Test func aClientThatHangsUpMidBodyEndsTheResponseAndTheServerGoesOn() async throws {
        try await withServer { peer, server in
            // 1 GiB at 1 MiB/s: curl gives up after 2 s, far from the end.
            _ = try? await peer.exec(["curl", "-sS", "-o", "/dev/null", "--limit-rate", "1M", "--max-time", "2",
                                      "\(Self.url)/bytes/\(1 << 30)"])
            try await waitUntil("the server saw the response aborted", seconds: 10) { server.aborted.load(ordering: .relaxed) == 1 }
            let hello = try await peer.exec(["curl", "-sS", "--fail", "--max-time", "10", "\(Self.url)/"])
            #expect(hello == "hello from the tunnel\n")
        }
    }

    @Test func hundredConcurrentRequestsAllSucceed() async throws {
        try await withServer { peer, _ in
            let urls = (0..<100).map { "\(Self.url)/bytes/\(100_000 + $0)" }
            let output = try await peer.exec(
                ["curl", "-sS", "--no-progress-meter", "--fail", "--max-time", "60", "--parallel", "--parallel-immediate", "--parallel-max", "100",
                 "-w", "%{http_code} %{size_download}\\n"] + urls.flatMap { ["-o", "/dev/null", $0] })
            // curl's parallel progress meter shares the output (stderr): keep the -w lines.
            let lines = output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(String.init)
                .filter { $0.hasPrefix("200 ") || $0.range(of: #"^\d{3} \d+$"#, options: .regularExpression) != nil }.sorted()
            #expect(lines.count == 100)
            #expect(lines == (0..<100).map { "200 \(100_000 + $0)" }.sorted())
        }
    }

    @Test func halfCloseCarriesAcrossTheBridgeBothWays() async throws {
        try await TunnelPeer.with { peer in
            // Counts what arrives until the peer's FIN, answers with the count, then half-closes.
            let server = try await WireNetServerBootstrap(node: peer.node)
                .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .bind(port: 7000) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(CountUntilFIN())
                    }
                }
            defer { server.close(promise: nil) }
            let script = """
                import socket
                s = socket.create_connection(("\(TunnelPeer.nodeAddress)", 7000), timeout=20)
                s.sendall(b"x" * 1000000)
                s.shutdown(socket.SHUT_WR)
                reply = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk: break
                    reply += chunk
                print(reply.decode(), end="")
                """
            let reply = try await peer.exec(["/usr/bin/python3", "-c", script])
            #expect(reply == "1000000 bytes\n")
        }
    }

    @Test func aNIOClientDialsPythonsHTTPServerThroughTheNode() async throws {
        try await TunnelPeer.with { peer in
            let directory = "/tmp/nb-www-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data((0..<3_000_000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: "\(directory)/file"))
            let python = try peer.namespace.spawn(["/usr/bin/python3", "-m", "http.server", "--bind", TunnelPeer.peerAddress,
                                                   "--directory", directory, "8000"])
            defer {
                python.stop()
                try? FileManager.default.removeItem(atPath: directory)
            }
            try await waitUntil("python's http.server listens", seconds: 10) {
                (try? await peer.exec(["curl", "-sS", "-o", "/dev/null", "http://\(TunnelPeer.peerAddress):8000/"])) != nil
            }
            let client = try await WireNetClientBootstrap(node: peer.node)
                .connect(host: TunnelPeer.peerAddress, port: 8000) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
            var digest = SHA256Digest()
            var length = 0
            var status: HTTPResponseStatus?
            try await client.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/file")
                head.headers.add(name: "Host", value: TunnelPeer.peerAddress)
                try await outbound.write(.head(head))
                try await outbound.write(.end(nil))
                loop: for try await part in inbound {
                    switch part {
                    case .head(let response): status = response.status
                    case .body(let buffer): digest.update(Array(buffer.readableBytesView)); length += buffer.readableBytes
                    case .end: break loop
                    }
                }
            }
            #expect(status == .ok)
            #expect(length == 3_000_000)
            #expect(hex(digest.finish()) == PatternHTTPServer.sha256(count: 3_000_000))
        }
    }
}

extension NIOServerOnTunnelTests {
    @Test func aTunnelRelayCarriesCurlToAHostServerAndBack() async throws {
        try await TunnelPeer.with { peer in
            let directory = "/tmp/nb-relay-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data((0..<5_000_000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: "\(directory)/file"))
            let python = try Shell.spawn(["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", directory, "18877"])
            let relay = try await TunnelRelay.start(node: peer.node, port: 8081, to: try SocketAddress(ipAddress: "127.0.0.1", port: 18877))
            defer {
                relay.close()
                python.stop()
                try? FileManager.default.removeItem(atPath: directory)
            }
            try await waitUntil("python's http.server listens", seconds: 10) {
                (try? Shell.run(["curl", "-sS", "-o", "/dev/null", "http://127.0.0.1:18877/"])) != nil
            }
            let got = try await peer.exec(["sh", "-c", "curl -sS --fail --max-time 60 http://\(TunnelPeer.nodeAddress):8081/file | sha256sum"])
            #expect(got.prefix(64) == PatternHTTPServer.sha256(count: 5_000_000))
        }
    }
}

extension NIOServerOnTunnelTests {
    /// curl is a SOCKS5 client nobody here wrote: through the front, the node dials Python's
    /// http.server behind wireguard-go; a closed port comes back as RFC 1928's "connection refused".
    @Test func curlThroughTheSOCKSFrontReachesPythonBehindThePeer() async throws {
        try await TunnelPeer.with { peer in
            let directory = "/tmp/nb-socks-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data((0..<4_000_000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: "\(directory)/file"))
            let python = try peer.namespace.spawn(["/usr/bin/python3", "-m", "http.server", "--bind", TunnelPeer.peerAddress,
                                                   "--directory", directory, "8000"])
            let front = try await SOCKSFront.start(node: peer.node)
            defer {
                front.close()
                python.stop()
                try? FileManager.default.removeItem(atPath: directory)
            }
            try await waitUntil("python's http.server listens", seconds: 10) {
                (try? await peer.exec(["curl", "-sS", "-o", "/dev/null", "http://\(TunnelPeer.peerAddress):8000/"])) != nil
            }
            let proxy = "socks5://127.0.0.1:\(front.port)"
            let got = try await onOwnThread {
                try Shell.run(["sh", "-c", "curl -sS --fail --max-time 60 --proxy \(proxy) http://\(TunnelPeer.peerAddress):8000/file | sha256sum"])
            }.get()
            #expect(got.prefix(64) == PatternHTTPServer.sha256(count: 4_000_000))
            let refused = await onOwnThread {
                try Shell.run(["curl", "-sS", "--max-time", "20", "--proxy", proxy, "http://\(TunnelPeer.peerAddress):8009/"])
            }
            guard case .failure(let failure as Shell.Failure) = refused else {
                Issue.record("a closed port answered: \(refused)")
                return
            }
            // curl prints the RFC 1928 reply code: 5 is "connection refused".
            #expect(failure.output.contains("(5)"), "\(failure.output)")
        }
    }
}

/// Reads until the peer half-closes, then writes how many bytes came and half-closes its own side.
final class CountUntilFIN: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let count = Lock(0)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data).readableBytes
        count.withLock { $0 += bytes }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .some(.inputClosed) = event as? ChannelEvent else { return }
        let reply = context.channel.allocator.buffer(string: "\(count.withLock { $0 }) bytes\n")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(reply)).whenSuccess {
            channel.close(mode: .output, promise: nil)
        }
    }
}

func waitUntil(_ what: String, seconds: Double, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw PeerFailure("timed out waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}
