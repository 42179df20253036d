#if canImport(Glibc)
import Glibc
#endif
import Testing
import Wire
@testable import WireNet

/// A node under a handshake flood asks the kernel to sample handshake messages on its socket, its
/// established peer's traffic still flows, and the filter goes once the flood ends.
@Suite struct NodeHandshakeSamplingTests {
    /// Sends `count` initiations with random contents (mac1 invalid) to 127.0.0.1:`port` from `fd`.
    static func flood(_ fd: CInt, port: UInt16, count: Int) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = port.bigEndian
        var message = [UInt8](repeating: 0, count: 148)
        message[0] = 1
        for index in 0..<count {
            message[4] = UInt8(truncatingIfNeeded: index)
            message[5] = UInt8(truncatingIfNeeded: index >> 8)
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                    _ = message.withUnsafeBytes {
                        sendto(fd, $0.baseAddress, $0.count, 0, raw, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
    }

    /// One message through the pair's TCP echo on `port`, compared.
    static func echo(_ pair: NodePair, _ text: String, port: UInt16 = 9200) async throws {
        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: port)
        let message = Array(text.utf8)
        try await stream.write(message)
        var reply: [UInt8] = []
        while reply.count < message.count, let chunk = try await stream.read() { reply += chunk }
        #expect(reply == message)
        stream.close()
    }

    @Test func aFloodTurnsSamplingOnTheEstablishedPeerKeepsTalkingAndSamplingEndsWithTheFlood() async throws {
        let pair = try await NodePair.start()
        let listener = try await pair.server.listen(tcp: 9200)
        let echo = Task {
            while let stream = try await listener.accept() {
                while let chunk = try await stream.read() { try await stream.write(chunk) }
                stream.close()
            }
        }
        try await Self.echo(pair, "before the flood")
        let (engine, _) = try pair.server.runningEngine()
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }

        // Far above twice the device's budget (8192/s) on any machine: sampling starts within a
        // review or two. Bounded, so a broken engine fails the test instead of hanging it.
        var sampling: UInt32?
        for _ in 0..<2000 where sampling == nil {
            Self.flood(fd, port: engine.localPort, count: 2000)
            sampling = try await engine.query { $0.handshakeSampling.oneIn }
        }
        #expect(sampling != nil)
        #expect((sampling ?? 0) >= 2)

        // Transport data passes the filter: the established session carries a new connection.
        Self.flood(fd, port: engine.localPort, count: 2000)
        try await Self.echo(pair, "during the flood")

        // Quiet: two reviews below the load threshold and the filter is gone.
        var after: UInt32? = sampling
        for _ in 0..<100 where after != nil {
            try await Task.sleep(for: .milliseconds(100))
            after = try await engine.query { $0.handshakeSampling.oneIn }
        }
        #expect(after == nil)
        try await Self.echo(pair, "after the flood")

        listener.close()
        echo.cancel()
        await pair.close()
    }
}
