// The seal of one outgoing TCP segment, three ways, on one thread (issue 15, "Copies and overheads"):
// - "libsodium seal (in place)": the plaintext is already in the datagram buffer; libsodium's
//   ChaCha20-Poly1305 seals it there — the floor, no copy at all;
// - "copy + seal": today's path — the payload is copied from the connection's send buffer into the
//   datagram buffer behind the 52-byte IPv4+TCP header, then sealed in place;
// - "gather seal, 1 span" / "2 spans": GatherSeal reads the payload from the send buffer (one span, or
//   two split at a chunk boundary) and writes only ciphertext into the datagram buffer.
// Each packet is 1420 bytes (the default tunnel MTU): 52 header bytes and 1368 payload bytes taken
// from successive offsets of a 256 KiB "send buffer" (as a bulk sender's ring), sealed into one of
// 256 send buffers in turn (as the engine's pool). Figures are per plaintext byte sealed.
//
// Prints one JSON object per measurement (perf/gather-seal-bench.sh collects them in a results file).
// usage: GatherSealBench [seconds per measurement] [rounds]
import CMallocCounter
import Foundation
import Wire
import WireGuard

let arguments = CommandLine.arguments
let secondsPerRun = arguments.count > 1 ? Double(arguments[1]) ?? 2 : 2
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5
let packetSize = 1420
let headerSize = 52
let payloadSize = packetSize - headerSize
let bufferCount = 256
let ringSize = 256 << 10

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

enum Variant: String, CaseIterable {
    case inPlace = "libsodium seal (in place)"
    case copyThenSeal = "copy + seal"
    case gatherOne = "gather seal, 1 span"
    case gatherTwo = "gather seal, 2 spans"
}

let ring = UnsafeMutableRawBufferPointer.allocate(byteCount: ringSize + packetSize, alignment: 64)
for i in 0..<ring.count { ring[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
let buffers = (0..<bufferCount).map { _ in
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 + packetSize + 64, alignment: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 0x5A)
    return buffer
}
var key = Key32()
key.withUnsafeMutableBytes { for i in 0..<32 { $0[i] = UInt8(truncatingIfNeeded: i &* 29 &+ 3) } }

/// Seals `packets` packets the `variant` way, starting at ring offset `offset`; returns the next offset.
@MainActor @inline(never)
func seal(_ variant: Variant, packets: Int, counter: inout UInt64, offset: inout Int) {
    key.withUnsafeBytes { keyBytes in
        let key = keyBytes.baseAddress!
        for index in 0..<packets {
            let text = buffers[index % bufferCount].baseAddress! + 16
            let payload = ring.baseAddress! + offset
            switch variant {
            case .inPlace:
                ChaCha20Poly1305.seal(key: key, counter: counter, text: text, length: packetSize)
            case .copyThenSeal:
                (text + headerSize).copyMemory(from: payload, byteCount: payloadSize)
                ChaCha20Poly1305.seal(key: key, counter: counter, text: text, length: packetSize)
            case .gatherOne:
                var runs = GatherList()
                _ = runs.append(UnsafeRawBufferPointer(start: payload, count: payloadSize), at: headerSize)
                GatherSeal(destination: text, length: packetSize, plaintext: runs).seal(key: key, counter: counter)
            case .gatherTwo:
                // Split where a 4 KiB chunk boundary would fall for this offset (mid-payload when none does).
                let toBoundary = 4096 - offset & 4095
                let split = toBoundary < payloadSize ? toBoundary : payloadSize / 2
                var runs = GatherList()
                _ = runs.append(UnsafeRawBufferPointer(start: payload, count: split), at: headerSize)
                _ = runs.append(UnsafeRawBufferPointer(start: payload + split, count: payloadSize - split), at: headerSize + split)
                GatherSeal(destination: text, length: packetSize, plaintext: runs).seal(key: key, counter: counter)
            }
            counter &+= 1
            offset += payloadSize
            if offset >= ringSize { offset -= ringSize }
        }
    }
}

struct Result {
    var megabytesPerSecond: Double
    var cpuSecondsPerGB: Double
    var nanosecondsPerPacket: Double
    var allocations: UInt64
}

@MainActor
func measure(_ variant: Variant, seconds: Double) -> Result {
    var counter: UInt64 = 0
    var offset = 0
    seal(variant, packets: 4 * bufferCount, counter: &counter, offset: &offset)  // warm-up
    let allocationsBefore = wirenet_allocation_count()
    let cpuBefore = cpuSeconds()
    let start = monotonic()
    var packets = 0
    while monotonic() - start < seconds {
        seal(variant, packets: bufferCount, counter: &counter, offset: &offset)
        packets += bufferCount
    }
    let elapsed = monotonic() - start
    let cpu = cpuSeconds() - cpuBefore
    let allocations = wirenet_allocation_count() - allocationsBefore
    let bytes = Double(packets * packetSize)
    return Result(megabytesPerSecond: bytes / elapsed / 1e6, cpuSecondsPerGB: cpu / (bytes / 1e9),
                  nanosecondsPerPacket: elapsed / Double(packets) * 1e9, allocations: allocations)
}

// The gather seal's datagrams are those of copy + seal, byte for byte (ciphertext and tag).
for variant in [Variant.gatherOne, .gatherTwo] {
    var counter: UInt64 = 41, offset = 4000
    buffers[0].initializeMemory(as: UInt8.self, repeating: 0x5A)
    seal(.copyThenSeal, packets: 1, counter: &counter, offset: &offset)
    let expected = Array(buffers[0][16..<(16 + packetSize + 16)])
    counter = 41
    offset = 4000
    buffers[0].initializeMemory(as: UInt8.self, repeating: 0x5A)
    seal(variant, packets: 1, counter: &counter, offset: &offset)
    guard Array(buffers[0][16..<(16 + packetSize + 16)]) == expected else { fatalError("\(variant.rawValue) differs from copy + seal") }
}

// Rounds interleave the variants (their order rotating), so a change in machine load hits all alike.
let variants = Variant.allCases
for round in 1...rounds {
    for step in 0..<variants.count {
        let variant = variants[(step + round) % variants.count]
        let result = measure(variant, seconds: secondsPerRun)
        print(String(format: #"{"measurement": "%@", "round": %d, "MBps": %.1f, "cpuSecondsPerGB": %.4f, "nsPerPacket": %.1f, "allocations": %llu, "loadAverage1m": %.2f}"#,
                     variant.rawValue, round, result.megabytesPerSecond, result.cpuSecondsPerGB,
                     result.nanosecondsPerPacket, result.allocations, loadAverage()))
    }
}
