// The WireGuard data path in memory, with its AEAD on 1, 2, … crypto threads: batches of 256
// packets of 1420 bytes are prepared by device A (route, counter, header), sealed on the threads,
// taken back in order, prepared by device B (index, age, replay pre-check), opened on the threads,
// and completed in order (replay window, timers, allowed-IPs check), with two batches in flight
// (CryptoWorkers.launch / finishOldest, as the engine runs them). Next to it, in the same run, the
// floor: libsodium's ChaCha20-Poly1305 seal + open of the same bytes on one thread.
//
// Prints one JSON object per measurement (perf/crypto-bench.sh collects them into a results file).
// usage: WireGuardParallelBench [seconds per measurement] [rounds] [thread counts, comma-separated]
// (an empty thread list measures only the libsodium floor, as perf/run.sh does)
import CMallocCounter
import Foundation
import Wire
import WireGuard
@_spi(Benchmarks) import WireNet

let arguments = CommandLine.arguments
let secondsPerRun = arguments.count > 1 ? Double(arguments[1]) ?? 3 : 3
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3
let threadCounts = (arguments.count > 3 ? arguments[3] : "1,2").split(separator: ",").compactMap { Int($0) }
let packetSize = 1420
let batchSize = 256

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

func monotonic() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func loadAverage() -> Double {
    var loads = [Double](repeating: 0, count: 3)
    return getloadavg(&loads, 3) > 0 ? loads[0] : -1
}

/// Two devices with an established session; A sends to B.
final class TransportPair {
    let a: WireGuardDevice
    let b: WireGuardDevice
    let aEndpoint = IPEndpoint.v4(10, 251, 8, 1, port: 51820)
    let bEndpoint = IPEndpoint.v4(10, 251, 8, 2, port: 51820)
    var now = NetInstant(nanoseconds: 1_000_000_000)

    init() {
        let anchor = WallClockAnchor(instant: now, unixNanoseconds: 1_700_000_000_000_000_000)
        a = WireGuardDevice(configuration: DeviceConfiguration(privateKey: PrivateKey(), wallClock: anchor))
        b = WireGuardDevice(configuration: DeviceConfiguration(privateKey: PrivateKey(), wallClock: anchor))
        try! a.addPeer(PeerConfiguration(publicKey: b.publicKey, endpoint: bEndpoint, allowedIPs: [IPPrefix("100.64.77.2/32")!]))
        try! b.addPeer(PeerConfiguration(publicKey: a.publicKey, endpoint: aEndpoint, allowedIPs: [IPPrefix("100.64.77.1/32")!]))
        var scratch = [UInt8](repeating: 0, count: 2048)
        now = now + .milliseconds(25)
        try! a.initiateHandshake(with: b.publicKey, now: now)
        scratch.withUnsafeMutableBytes { buffer in
            guard case .datagram(_, let initiation) = a.poll(into: buffer, now: now),
                  case .reply(_, let response) = b.receive(buffer, length: initiation, from: aEndpoint, now: now),
                  case .processed = a.receive(buffer, length: response, from: bEndpoint, now: now),
                  case .datagram(_, let first) = a.poll(into: buffer, now: now),
                  case .processed = b.receive(buffer, length: first, from: aEndpoint, now: now)
            else { fatalError("handshake failed") }
            _ = a.poll(into: buffer, now: now)
            _ = b.poll(into: buffer, now: now)
        }
    }
}

/// `batchSize` buffers, each holding one IPv4 packet of `packetSize` bytes at offset 16.
func packetBuffers() -> [UnsafeMutableRawBufferPointer] {
    (0..<batchSize).map { _ in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 + packetSize + 64, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0x5A)
        try! IPv4Header(source: IPv4Address(100, 64, 77, 1), destination: IPv4Address(100, 64, 77, 2),
                        protocol: .udp, payloadLength: packetSize - 20)
            .emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[16..<(16 + packetSize)]))
        return buffer
    }
}

struct Result {
    var megabytesPerSecond: Double
    var cpuSecondsPerGB: Double
    var allocationsPerPacket: Double
    var loadAverage: Double
    var helperShare = 0.0
}

/// Seal, order, open through `workers` for `seconds`, with two batches in flight as the engine runs
/// them: while one batch is sealed or opened on the crypto threads, this thread fills the next or
/// completes the previous one. Three sets of packets take turns: one being sealed, one sealed and
/// waiting, one being opened; A's seals and B's opens each stay in order.
func measurePipeline(threads: Int, seconds: Double) throws -> Result {
    let pair = TransportPair()
    let workers = try CryptoWorkers(threadCount: threads, batchCapacity: batchSize)
    defer { workers.stop() }
    let sets = (0..<3).map { _ in packetBuffers() }
    defer { sets.forEach { $0.forEach { $0.deallocate() } } }
    var lengths = [[Int]](repeating: [Int](repeating: 0, count: batchSize), count: 3)
    var pending = (0..<3).map { _ -> [PendingTransportData] in
        var list: [PendingTransportData] = []
        list.reserveCapacity(batchSize)
        return list
    }

    func launchSeals(_ set: Int) {
        for index in 0..<batchSize {
            guard case .seal(let job, _, let length) = pair.a.prepareSend(sets[set][index], packetLength: packetSize, now: pair.now)
            else { fatalError("send failed") }
            workers.submit(job)
            lengths[set][index] = length
        }
        workers.launch()
    }
    func finishSeals() {
        workers.finishOldest { _, job in
            guard job.succeeded else { fatalError("seal failed") }
        }
    }
    func launchOpens(_ set: Int) {
        for index in 0..<batchSize {
            guard case .open(let job, let data) = pair.b.prepareReceive(sets[set][index], length: lengths[set][index], from: pair.aEndpoint, now: pair.now)
            else { fatalError("receive failed") }
            workers.submit(job)
            pending[set].append(data)
        }
        workers.launch()
    }
    func finishOpens(_ set: Int) {
        // In order, each as soon as it is open (the threads open the next ones and seal the next batch meanwhile).
        workers.finishOldest { index, job in
            guard case .packet = pair.b.completeReceive(pending[set][index], opened: job, now: pair.now)
            else { fatalError("open failed (order or tag)") }
        }
        pending[set].removeAll(keepingCapacity: true)
    }
    /// One batch sealed and one opened; enters and leaves with the opening of set `step % 3` in
    /// flight and set `(step + 1) % 3` sealed.
    func oneStep(_ step: Int) {
        launchSeals((step + 2) % 3)
        finishOpens(step % 3)
        launchOpens((step + 1) % 3)
        finishSeals()
    }

    launchSeals(0)
    launchSeals(1)
    finishSeals()
    launchOpens(0)
    finishSeals()
    var step = 0
    for _ in 0..<64 { oneStep(step); step += 1 }  // warm-up: pools, caches, sleeping helpers
    let allocationsBefore = wirenet_allocation_count()
    let cpuBefore = cpuSeconds()
    let helperJobsBefore = workers.helperJobCount
    let start = monotonic()
    var batches = 0
    while monotonic() - start < seconds {
        for _ in 0..<16 { oneStep(step); step += 1 }
        batches += 16
    }
    let elapsed = monotonic() - start
    let cpu = cpuSeconds() - cpuBefore
    let allocations = wirenet_allocation_count() - allocationsBefore
    let helperJobs = workers.helperJobCount - helperJobsBefore
    finishOpens(step % 3)
    let bytes = Double(batches * batchSize * packetSize)
    return Result(megabytesPerSecond: bytes / elapsed / 1e6, cpuSecondsPerGB: cpu / (bytes / 1e9),
                  allocationsPerPacket: Double(allocations) / Double(batches * batchSize), loadAverage: loadAverage(),
                  helperShare: Double(helperJobs) / Double(batches * batchSize * 2))
}

/// libsodium seal + open of the same packets on this thread: the floor for any implementation.
func measureFloor(seconds: Double) -> Result {
    let buffers = packetBuffers()
    defer { buffers.forEach { $0.deallocate() } }
    let key = Key32(copying: UnsafeRawBufferPointer(rebasing: buffers[0][100..<132]))
    var counter: UInt64 = 0
    let allocationsBefore = wirenet_allocation_count()
    let cpuBefore = cpuSeconds()
    let start = monotonic()
    var packets = 0
    while monotonic() - start < seconds {
        for buffer in buffers {
            let text = buffer.baseAddress! + 16
            ChaCha20Poly1305.seal(key: key, counter: counter, text: text, length: packetSize)
            guard ChaCha20Poly1305.open(key: key, counter: counter, text: text, length: packetSize) else { fatalError("open failed") }
            counter &+= 1
        }
        packets += buffers.count
    }
    let elapsed = monotonic() - start
    let cpu = cpuSeconds() - cpuBefore
    let bytes = Double(packets * packetSize)
    return Result(megabytesPerSecond: bytes / elapsed / 1e6, cpuSecondsPerGB: cpu / (bytes / 1e9),
                  allocationsPerPacket: Double(wirenet_allocation_count() - allocationsBefore) / Double(packets),
                  loadAverage: loadAverage())
}

func emit(_ name: String, threads: Int, round: Int, _ result: Result) {
    print(String(format: #"{"measurement": "%@", "threads": %d, "round": %d, "MBps": %.1f, "cpuSecondsPerGB": %.3f, "allocationsPerPacket": %.4f, "helperJobShare": %.3f, "loadAverage1m": %.2f}"#,
                 name, threads, round, result.megabytesPerSecond, result.cpuSecondsPerGB, result.allocationsPerPacket,
                 result.helperShare, result.loadAverage))
}


// Rounds interleave the configurations, so a change in machine load hits all of them alike.
for round in 1...rounds {
    for threads in threadCounts {
        emit("seal+order+open", threads: threads, round: round, try measurePipeline(threads: threads, seconds: secondsPerRun))
    }
    emit("libsodium seal+open (floor)", threads: 1, round: round, measureFloor(seconds: secondsPerRun))
}
