import Logging
import NetStack
import Wire
import WireGuard
import WireNet

/// `wirenet demo`: two nodes in this process, joined over UDP loopback with fresh keys; node A
/// serves HTTP inside the tunnel, node B fetches a page and then measures throughput.
struct DemoScenario {
    /// Bytes the throughput run asks for.
    var bytes: UInt64
    /// Longest the throughput run may take.
    var duration: Duration
    /// Transport settings for both nodes.
    var options: Node.Options
    var logger: Logger

    static let addressA = "100.64.1.1"
    static let addressB = "100.64.1.2"
    static let address6A = "fd7a:115c:a1e0:1::1"
    static let address6B = "fd7a:115c:a1e0:1::2"
    static let httpPort: UInt16 = 80
    /// How often the throughput run prints a progress line.
    static let progressInterval: Duration = .milliseconds(500)

    /// Runs the demo, printing as it goes.
    /// - Throws: whatever failed, for the command to report.
    func run() async throws {
        let keyA = PrivateKey()
        let keyB = PrivateKey()
        let nodeA = Node(configuration: NodeConfiguration(
            privateKey: keyA,
            addresses: [try prefix("\(Self.addressA)/32"), try prefix("\(Self.address6A)/128")],
            peers: [.init(publicKey: keyB.publicKey,
                          allowedIPs: [try prefix("\(Self.addressB)/32"), try prefix("\(Self.address6B)/128")])]),
            options: options, logger: logger)
        try await nodeA.start()
        var nodes = [nodeA]
        do {
            let portA = try await nodeA.status().listenPort
            let nodeB = Node(configuration: NodeConfiguration(
                privateKey: keyB,
                addresses: [try prefix("\(Self.addressB)/32"), try prefix("\(Self.address6B)/128")],
                peers: [.init(publicKey: keyA.publicKey, endpoint: PeerEndpoint(host: "127.0.0.1", port: portA),
                              allowedIPs: [try prefix("\(Self.addressA)/32"), try prefix("\(Self.address6A)/128")])]),
                options: options, logger: logger)
            try await nodeB.start()
            nodes.append(nodeB)
            try await run(nodeA: nodeA, nodeB: nodeB)
        } catch {
            for node in nodes { await node.close() }
            throw error
        }
        for node in nodes { await node.close() }
    }

    private func run(nodeA: Node, nodeB: Node) async throws {
        let statusA = try await nodeA.status()
        let statusB = try await nodeB.status()
        Console.out("wirenet demo: two WireGuard nodes in this process, joined over UDP loopback (fresh keys)")
        Console.out("  node A  \(statusA.addresses.map(\.description).joined(separator: " "))  udp 127.0.0.1:\(statusA.listenPort) (\(statusA.transport))  key \(statusA.publicKey)")
        Console.out("  node B  \(statusB.addresses.map(\.description).joined(separator: " "))  udp 127.0.0.1:\(statusB.listenPort) (\(statusB.transport))  key \(statusB.publicKey)")

        let server = DemoHTTPServer(listener: try await nodeA.listen(tcp: Self.httpPort), serverName: "wirenet-demo", logger: logger)
        let serving = Task { await server.run() }
        defer {
            server.close()
            serving.cancel()
        }
        Console.out("  node A serves HTTP on port \(Self.httpPort) of its tunnel addresses")
        Console.out("")

        // A page over IPv4 (this first connection also carries the WireGuard handshake).
        let started = ContinuousClock.now
        let page = try await DemoHTTPClient.get(node: nodeB, host: Self.addressA, port: Self.httpPort, path: "/")
        let firstRequest = ContinuousClock.now - started
        Console.out("B → GET http://\(Self.addressA)/  (\(fixed(seconds(firstRequest) * 1000, 1)) ms, handshake included)")
        Console.out("  HTTP/1.1 \(page.head.status) \(page.head.reason)")
        for field in page.head.fields { Console.out("  \(displayName(field.name)): \(field.value)") }
        if let heading = page.body.split(separator: "\n").first(where: { $0.contains("<h1>") }) {
            Console.out("  body: \(heading.replacingOccurrences("<h1>", "").replacingOccurrences("</h1>", ""))")
        }
        guard page.head.status == 200 else { throw DemoFailure("GET / answered \(page.head.status)") }

        // The same over IPv6 inside the tunnel.
        let page6 = try await DemoHTTPClient.get(node: nodeB, host: Self.address6A, port: Self.httpPort, path: "/")
        Console.out("B → GET http://[\(Self.address6A)]/  → HTTP/1.1 \(page6.head.status) \(page6.head.reason), \(page6.body.utf8.count) bytes")
        guard page6.head.status == 200 else { throw DemoFailure("GET / over IPv6 answered \(page6.head.status)") }
        Console.out("")

        try await measureThroughput(nodeB: nodeB)

        let final = try await nodeB.status()
        if let peer = final.peers.first {
            let age = peer.lastHandshakeAge.map { "\(fixed(seconds($0), 1)) s ago" } ?? "none"
            Console.out("handshake: B ↔ A completed \(age); B sent \(peer.sentBytes) B and received \(peer.receivedBytes) B of WireGuard payload; endpoint \(peer.endpoint ?? "?")")
        }
        Console.out("demo complete")
    }

    /// `GET /bytes/N` from node B, reading until the body is complete or the time is up.
    private func measureThroughput(nodeB: Node) async throws {
        let megabytes = Double(bytes) / 1e6
        Console.out("throughput: B ← A  GET /bytes/\(bytes) (\(fixed(megabytes, 1)) MB), at most \(fixed(seconds(duration), 1)) s")
        let stream = try await nodeB.dial(tcp: Self.addressA, port: Self.httpPort)
        defer { stream.abort() }
        try await stream.write("GET /bytes/\(bytes) HTTP/1.1\r\nHost: \(Self.addressA)\r\nConnection: close\r\n\r\n")
        let (head, leftover) = try await DemoHTTPClient.readHead(from: stream)
        guard head.status == 200, let length = head.contentLength else {
            throw DemoFailure("GET /bytes/\(bytes) answered \(head.status)")
        }
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + duration
        var received = UInt64(leftover.count)
        var nextReport = start + Self.progressInterval
        var lastReport = (time: start, bytes: UInt64(0))
        var timedOut = false
        while received < length {
            guard let chunk = try await stream.read() else {
                throw DemoFailure("the connection ended after \(received) of \(length) bytes")
            }
            received += UInt64(chunk.count)
            let now = clock.now
            if now >= nextReport {
                let interval = seconds(now - lastReport.time)
                let rate = Double(received - lastReport.bytes) * 8 / interval / 1e9
                Console.out("  \(pad(fixed(seconds(now - start), 1), 5)) s  \(pad(fixed(Double(received) / 1e6, 1), 8)) MB  \(fixed(rate, 2)) Gbit/s")
                lastReport = (now, received)
                nextReport = now + Self.progressInterval
            }
            if now >= deadline, received < length {
                timedOut = true
                break
            }
        }
        let elapsed = seconds(clock.now - start)
        let rate = Double(received) * 8 / max(elapsed, 1e-9) / 1e9
        let why = timedOut ? "time limit reached" : "complete"
        Console.out("result: \(received) bytes (\(fixed(Double(received) / 1e6, 1)) MB) in \(fixed(elapsed, 2)) s = \(fixed(rate, 2)) Gbit/s (\(why); one TCP connection, both stacks in this process)")
    }
}

/// The demo's HTTP client: one request per connection, the whole body read into memory (pages only).
enum DemoHTTPClient {
    struct Response {
        var head: HTTPResponseHead
        var body: String
    }

    /// Largest body `get` reads.
    static let maximumBody = 1 << 20

    static func get(node: Node, host: String, port: UInt16, path: String) async throws -> Response {
        let stream = try await node.dial(tcp: host, port: port)
        defer { stream.close() }
        let hostField = host.contains(":") ? "[\(host)]" : host
        try await stream.write("GET \(path) HTTP/1.1\r\nHost: \(hostField)\r\nUser-Agent: wirenet-demo\r\nConnection: close\r\n\r\n")
        let (head, leftover) = try await readHead(from: stream)
        var body = leftover
        let expected = Int(clamping: head.contentLength ?? UInt64(maximumBody))
        while body.count < min(expected, maximumBody), let chunk = try await stream.read() { body += chunk }
        return Response(head: head, body: String(decoding: body, as: UTF8.self))
    }

    /// Reads up to the end of the response head; returns it and the body bytes read past it.
    static func readHead(from stream: TCPStream) async throws -> (HTTPResponseHead, [UInt8]) {
        var buffered: [UInt8] = []
        while true {
            if let end = endOfHead(in: buffered) {
                return (try HTTPResponseHead(parsing: buffered[..<(end - 4)]), Array(buffered[end...]))
            }
            guard buffered.count <= HTTPRequestHead.maximumLength, let chunk = try await stream.read() else {
                throw DemoFailure("the server closed the connection before a complete response head")
            }
            buffered += chunk
        }
    }
}

/// A demo step that did not go as it should.
struct DemoFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

private func prefix(_ text: String) throws -> IPPrefix {
    guard let prefix = IPPrefix(text) else { throw DemoFailure("bad built-in address \(text)") }
    return prefix
}

/// `content-type` → `Content-Type`, for display.
private func displayName(_ name: String) -> String {
    name.split(separator: "-", omittingEmptySubsequences: false)
        .map { $0.prefix(1).uppercased() + $0.dropFirst() }
        .joined(separator: "-")
}

private func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

extension StringProtocol {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
