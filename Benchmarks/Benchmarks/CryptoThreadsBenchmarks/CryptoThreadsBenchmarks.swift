import Benchmark
import Wire
import WireGuard
@_spi(Benchmarks) import WireNet

// The WireGuard data path in memory with its AEAD on 1 and 2 crypto threads (issue 15): one
// iteration is a batch of 256 packets of 1420 bytes prepared by device A (route, counter, header),
// sealed on the threads, taken back in order, prepared by device B (index, age, replay pre-check),
// opened on the threads and completed in order (replay window, timers, allowed IPs). Target: 2
// threads ≥ 1.8× 1 thread, `mallocCountTotal` 0. perf/crypto-bench.sh runs the same pipeline
// (perf/crypto/WireGuardParallelBench) interleaved and writes a results file.

let megabytesPerSecond = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
let packetSize = 1420
let batchSize = 256

/// Two devices with an established session; A sends to B.
final class TransportPair {
    let a: WireGuardDevice
    let b: WireGuardDevice
    let aEndpoint = IPEndpoint.v4(10, 250, 77, 1, port: 51820)
    let bEndpoint = IPEndpoint.v4(10, 250, 77, 2, port: 51820)
    let now = NetInstant(nanoseconds: 1_025_000_000)

    init() {
        let anchor = WallClockAnchor(instant: NetInstant(nanoseconds: 1_000_000_000), unixNanoseconds: 1_700_000_000_000_000_000)
        a = WireGuardDevice(configuration: DeviceConfiguration(privateKey: PrivateKey(), wallClock: anchor))
        b = WireGuardDevice(configuration: DeviceConfiguration(privateKey: PrivateKey(), wallClock: anchor))
        try! a.addPeer(PeerConfiguration(publicKey: b.publicKey, endpoint: bEndpoint, allowedIPs: [IPPrefix("100.64.77.2/32")!]))
        try! b.addPeer(PeerConfiguration(publicKey: a.publicKey, endpoint: aEndpoint, allowedIPs: [IPPrefix("100.64.77.1/32")!]))
        try! a.initiateHandshake(with: b.publicKey, now: now)
        var scratch = [UInt8](repeating: 0, count: 2048)
        scratch.withUnsafeMutableBytes { buffer in
            guard case .datagram(_, let initiation) = a.poll(into: buffer, now: now),
                  case .reply(_, let response) = b.receive(buffer, length: initiation, from: aEndpoint, now: now),
                  case .processed = a.receive(buffer, length: response, from: bEndpoint, now: now)
            else { fatalError("handshake failed") }
        }
    }
}

/// The pipeline's state: buffers, lengths and pending receives, all allocated once.
final class Pipeline {
    let pair = TransportPair()
    let workers: CryptoWorkers
    let buffers: [UnsafeMutableRawBufferPointer]
    var lengths = [Int](repeating: 0, count: batchSize)
    var pending: [PendingTransportData] = []

    init(threads: Int) throws {
        workers = try CryptoWorkers(threadCount: threads, batchCapacity: batchSize)
        buffers = (0..<batchSize).map { _ in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 + packetSize + 64, alignment: 64)
            buffer.initializeMemory(as: UInt8.self, repeating: 0x5A)
            try! IPv4Header(source: IPv4Address(100, 64, 77, 1), destination: IPv4Address(100, 64, 77, 2),
                            protocol: .udp, payloadLength: packetSize - 20)
                .emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[16..<(16 + packetSize)]))
            return buffer
        }
        pending.reserveCapacity(batchSize)
    }

    func close() {
        workers.stop()
        buffers.forEach { $0.deallocate() }
    }

    func oneBatch() {
        let jobs = workers.batch
        for index in 0..<batchSize {
            guard case .seal(let job, _, let length) = pair.a.prepareSend(buffers[index], packetLength: packetSize, now: pair.now)
            else { fatalError("send failed") }
            workers.submit(job)
            lengths[index] = length
        }
        workers.run()
        jobs.reset()
        for index in 0..<batchSize {
            guard case .open(let job, let data) = pair.b.prepareReceive(buffers[index], length: lengths[index], from: pair.aEndpoint, now: pair.now)
            else { fatalError("receive failed") }
            workers.submit(job)
            pending.append(data)
        }
        workers.run()
        for index in 0..<batchSize {
            guard case .packet = pair.b.completeReceive(pending[index], opened: jobs[index], now: pair.now)
            else { fatalError("open failed (order or tag)") }
        }
        jobs.reset()
        pending.removeAll(keepingCapacity: true)
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

let benchmarks: @Sendable () -> Void = {
    for threads in [1, 2] {
        Benchmark("Seal+order+open, batches of 256 × 1420 B, \(threads) crypto thread(s)", configuration: .init(
            metrics: [.wallClock, .cpuTotal, .mallocCountTotal, megabytesPerSecond],
            warmupIterations: 16, maxDuration: .seconds(5))) { benchmark in
            let pipeline = try Pipeline(threads: threads)
            defer { pipeline.close() }
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let start = clock.now
            for _ in benchmark.scaledIterations { pipeline.oneBatch() }
            let elapsed = seconds(start.duration(to: clock.now))
            benchmark.stopMeasurement()
            let bytes = Double(packetSize * batchSize) * Double(benchmark.scaledIterations.count)
            if elapsed > 0 { benchmark.measurement(megabytesPerSecond, Int(bytes / elapsed / 1e6)) }
        }
    }
}
