import Benchmark
import Wire

/// The Internet checksum (RFC 1071) the plain way: one 16-bit word per step, folded at the end.
/// This is the reference Wire's 64-bit accumulating checksum is measured against.
@inline(never)
func byteLoopChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
    var sum: UInt32 = 0
    var i = 0
    while i + 1 < bytes.count {
        sum &+= UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
        i += 2
    }
    if i < bytes.count { sum &+= UInt32(bytes[i]) << 8 }
    while sum >> 16 != 0 { sum = (sum & 0xFFFF) &+ (sum >> 16) }
    return ~UInt16(truncatingIfNeeded: sum)
}

/// MB/s over one benchmark iteration's worth of checksums, as a metric next to wall-clock time.
let megabytesPerSecond = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)

func checksumBenchmark(_ name: String, size: Int, _ checksum: @escaping @Sendable (UnsafeRawBufferPointer) -> UInt16) {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal, megabytesPerSecond],
        scalingFactor: .kilo,
        maxDuration: .seconds(2))
    Benchmark("Checksum \(name) \(size) B", configuration: configuration) { benchmark in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        for i in 0..<size { buffer[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
        let bytes = UnsafeRawBufferPointer(buffer)
        let clock = ContinuousClock()
        let start = clock.now
        for _ in benchmark.scaledIterations {
            blackHole(checksum(bytes))
        }
        let elapsed = start.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let total = Double(size) * Double(benchmark.scaledIterations.count)
        if seconds > 0 { benchmark.measurement(megabytesPerSecond, Int(total / seconds / 1e6)) }
    }
}

let benchmarks: @Sendable () -> Void = {
    for size in [64, 1420, 65536] {
        checksumBenchmark("Wire", size: size) { Checksum.compute($0) }
        checksumBenchmark("byte-loop reference", size: size) { byteLoopChecksum($0) }
    }
}
