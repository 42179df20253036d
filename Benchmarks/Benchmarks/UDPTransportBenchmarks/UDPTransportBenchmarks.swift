import Benchmark
import Glibc
import UDPTransport

// One iteration: a burst of 64 datagrams of 1452 bytes (a WireGuard data message for a 1420-byte
// MTU) sent to the transport's own port on 127.0.0.1 and received back, single-threaded, so
// nothing is lost and every datagram is checked for length. The reference does the same with a
// plain blocking socket, one sendto and one recv per datagram. The thread-per-side throughput
// comparison against C sendmmsg/recvmmsg is perf/udp-bench.sh.

let burst = 64
let datagramSize = 1452

/// Datagrams per second over one benchmark run, next to wall-clock time per burst.
let datagramsPerSecond = BenchmarkMetric.custom("datagrams/s", polarity: .prefersLarger, useScalingFactor: false)

var configuration: Benchmark.Configuration {
    Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal, datagramsPerSecond],
        maxDuration: .seconds(2))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func transportBenchmark(_ name: String, backend: UDPTransport.Backend, offload: Bool) {
    Benchmark("UDP loopback burst \(name)", configuration: configuration) { benchmark in
        var options = UDPTransport.Configuration(port: 0, backend: backend, gso: offload, gro: offload)
        options.address = .loopbackIPv4
        let transport = try UDPTransport(configuration: options)
        defer { transport.close() }
        let destination = UDPEndpoint.loopbackIPv4(port: transport.localPort)
        var sends = SendBatch(capacity: burst)
        var received = ReceiveBatch(capacity: 512)
        let clock = ContinuousClock()
        let start = clock.now
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for _ in 0 ..< burst {
                guard var buffer = transport.makeSendBuffer() else { fatalError("send pool exhausted") }
                buffer.dataCount = datagramSize
                sends.append(buffer, to: destination)
            }
            transport.send(&sends)
            var got = 0
            while got < burst {
                try transport.receive(into: &received, timeout: .seconds(1))
                guard !received.isEmpty || !received.errors.isEmpty else { fatalError("burst lost") }
                for datagram in received.datagrams where datagram.bytes.count != datagramSize {
                    fatalError("wrong datagram length \(datagram.bytes.count)")
                }
                got += received.count
            }
        }
        benchmark.stopMeasurement()
        transport.recycle(&received)
        let elapsed = seconds(start.duration(to: clock.now))
        if elapsed > 0 {
            benchmark.measurement(datagramsPerSecond, Int(Double(burst * benchmark.scaledIterations.count) / elapsed))
        }
    }
}

func plainSocketBenchmark() {
    Benchmark("UDP loopback burst plain sendto/recv reference", configuration: configuration) { benchmark in
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var size: CInt = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<CInt>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                _ = bind(fd, raw, length)
                _ = getsockname(fd, raw, &length)
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        let clock = ContinuousClock()
        let start = clock.now
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                    for _ in 0 ..< burst { _ = sendto(fd, buffer.baseAddress, datagramSize, 0, raw, length) }
                }
            }
            for _ in 0 ..< burst {
                let count = recv(fd, buffer.baseAddress, buffer.count, 0)
                if count != datagramSize { fatalError("wrong datagram length \(count)") }
            }
        }
        benchmark.stopMeasurement()
        let elapsed = seconds(start.duration(to: clock.now))
        if elapsed > 0 {
            benchmark.measurement(datagramsPerSecond, Int(Double(burst * benchmark.scaledIterations.count) / elapsed))
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    plainSocketBenchmark()
    transportBenchmark("io_uring + GSO/GRO", backend: .ioUring, offload: true)
    transportBenchmark("portable + GSO/GRO", backend: .portable, offload: true)
    transportBenchmark("io_uring, no offload", backend: .ioUring, offload: false)
    transportBenchmark("portable, no offload", backend: .portable, offload: false)
}
