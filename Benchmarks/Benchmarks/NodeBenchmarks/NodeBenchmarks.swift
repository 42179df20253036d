import Benchmark
import Glibc
import Logging
import Wire
import WireGuard
import WireNet

// End to end inside one process: two nodes over UDP loopback (transport, WireGuard, userspace TCP,
// async API), next to Linux's own TCP over loopback moving the same bytes in the same run.

let megabytesPerSecond = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
let transferSize = 64 << 20
let chunkSize = 256 << 10

/// Two started nodes; the server echoes nothing and counts bytes, the client pushes.
struct NodePair {
    let server: Node
    let client: Node

    static func start() async throws -> NodePair {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let server = Node(configuration: NodeConfiguration(
            privateKey: serverKey, addresses: [IPPrefix("100.64.20.1/32")!],
            peers: [.init(publicKey: clientKey.publicKey, allowedIPs: [IPPrefix("100.64.20.2/32")!])]), logger: logger)
        try await server.start()
        let port = try await server.status().listenPort
        let client = Node(configuration: NodeConfiguration(
            privateKey: clientKey, addresses: [IPPrefix("100.64.20.2/32")!],
            peers: [.init(publicKey: serverKey.publicKey, endpoint: PeerEndpoint(host: "127.0.0.1", port: port),
                          allowedIPs: [IPPrefix("100.64.20.1/32")!])]), logger: logger)
        try await client.start()
        return NodePair(server: server, client: client)
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

/// Linux TCP over 127.0.0.1: a sender thread and this thread receiving, blocking sockets.
func kernelLoopbackTransfer(bytes: Int) -> Duration {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(listener, $0, length); _ = getsockname(listener, $0, &length) }
    }
    listen(listener, 1)
    let clock = ContinuousClock()
    let start = clock.now
    var thread = pthread_t()
    let context = UnsafeMutablePointer<sockaddr_in>.allocate(capacity: 1)
    context.initialize(to: address)
    pthread_create(&thread, nil, { raw in
        let address = raw!.assumingMemoryBound(to: sockaddr_in.self)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        _ = address.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        let chunk = [UInt8](repeating: 7, count: chunkSize)
        var sent = 0
        while sent < transferSize {
            let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress, min(chunkSize, transferSize - sent), 0) }
            if n <= 0 { break }
            sent += n
        }
        close(fd)
        return nil
    }, context)
    let connection = accept(listener, nil, nil)
    var buffer = [UInt8](repeating: 0, count: chunkSize)
    var received = 0
    while received < bytes {
        let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, chunkSize, 0) }
        if n <= 0 { break }
        received += n
    }
    let elapsed = start.duration(to: clock.now)
    pthread_join(thread, nil)
    context.deallocate()
    close(connection)
    close(listener)
    return elapsed
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, megabytesPerSecond],
        maxDuration: .seconds(10), maxIterations: 5)

    Benchmark("TCP 64 MiB node to node (WireGuard + userspace TCP, UDP loopback)", configuration: configuration) { benchmark in
        let pair = try await NodePair.start()
        let listener = try await pair.server.listen(tcp: 5001)
        let clock = ContinuousClock()
        for _ in benchmark.scaledIterations {
            let receiver = Task {
                let stream = try await listener.accept()!
                var total = 0
                while let chunk = try await stream.read(maximumLength: chunkSize) { total += chunk.count }
                stream.close()
                return total
            }
            let start = clock.now
            let stream = try await pair.client.dial(tcp: "100.64.20.1", port: 5001)
            let chunk = [UInt8](repeating: 7, count: chunkSize)
            var sent = 0
            while sent < transferSize { try await stream.write(chunk); sent += chunk.count }
            try await stream.shutdownWrite()
            let received = try await receiver.value
            let elapsed = seconds(start.duration(to: clock.now))
            stream.close()
            precondition(received == transferSize, "lost bytes: \(received) of \(transferSize)")
            benchmark.measurement(megabytesPerSecond, Int(Double(transferSize) / elapsed / 1e6))
        }
        await pair.client.close()
        await pair.server.close()
    }

    Benchmark("TCP 64 MiB Linux loopback (reference)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            let elapsed = seconds(kernelLoopbackTransfer(bytes: transferSize))
            benchmark.measurement(megabytesPerSecond, Int(Double(transferSize) / elapsed / 1e6))
        }
    }

    Benchmark("Request/response 64 B node to node", configuration: .init(
        metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(5), maxIterations: 100_000)) { benchmark in
        let pair = try await NodePair.start()
        let listener = try await pair.server.listen(tcp: 5002)
        let echo = Task {
            let stream = try await listener.accept()!
            while let chunk = try await stream.read() { try await stream.write(chunk) }
        }
        let stream = try await pair.client.dial(tcp: "100.64.20.1", port: 5002)
        let request = [UInt8](repeating: 1, count: 64)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try await stream.write(request)
            var got = 0
            while got < 64, let chunk = try await stream.read() { got += chunk.count }
        }
        benchmark.stopMeasurement()
        stream.close()
        echo.cancel()
        await pair.client.close()
        await pair.server.close()
    }
}
