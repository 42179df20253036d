#if canImport(Glibc)
import Glibc
#endif
import Testing
import Wire
@testable import WireNet

/// Starting and stopping nodes many times, with traffic, leaves nothing behind.
@Suite struct NodeLifecycleLeakTests {
    /// Entries of a /proc directory (open descriptors, threads of this process).
    static func count(_ directory: String) -> Int {
        guard let handle = opendir(directory) else { return -1 }
        defer { closedir(handle) }
        var entries = 0
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { entries += 1 }
        }
        return entries
    }

    /// One cycle: two nodes, a handshake, a TCP echo and a UDP datagram, then close both.
    static func cycle(_ index: Int, transport: UDPTransportChoice) async throws {
        var options = Node.Options()
        options.transportBackend = transport.backend
        let pair = try await NodePair.start(options: options)
        let listener = try await pair.server.listen(tcp: 9100)
        let echo = Task {
            guard let stream = try await listener.accept() else { return }
            while let chunk = try await stream.read() { try await stream.write(chunk) }
            stream.close()
        }
        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9100)
        let message = Array("cycle \(index)".utf8)
        try await stream.write(message)
        var reply: [UInt8] = []
        while reply.count < message.count, let chunk = try await stream.read() { reply += chunk }
        #expect(reply == message)
        try await stream.shutdownWrite()
        _ = try await stream.read()
        stream.close()
        try await echo.value
        listener.close()
        await pair.close()
    }

    /// 100 cycles. A leak of one descriptor or thread per cycle would add 100; the slack only covers
    /// what tests running in parallel in this process open meanwhile.
    @Test(arguments: [UDPTransportChoice.ioUring, .portable])
    func aHundredStartStopCyclesLeakNoDescriptorsOrThreads(transport: UDPTransportChoice) async throws {
        try await Self.cycle(0, transport: transport)  // warm up lazily created shared state
        let descriptors = Self.count("/proc/self/fd")
        let threads = Self.count("/proc/self/task")
        for index in 1...100 { try await Self.cycle(index, transport: transport) }
        // Threads that were told to exit may take a moment to be gone.
        var threadsAfter = Self.count("/proc/self/task")
        for _ in 0..<50 where threadsAfter > threads {
            try await Task.sleep(for: .milliseconds(20))
            threadsAfter = Self.count("/proc/self/task")
        }
        let descriptorsAfter = Self.count("/proc/self/fd")
        #expect(descriptorsAfter - descriptors < 40, "descriptors: \(descriptors) before, \(descriptorsAfter) after")
        #expect(threadsAfter - threads < 20, "threads: \(threads) before, \(threadsAfter) after")
    }
}
