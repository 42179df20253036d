// Heap allocations of the steady-state data path, end to end in one process: two nodes over UDP
// loopback, one TCP flow (TCPStream.write → TCP → WireGuard seal → UDP send → UDP receive →
// WireGuard open → TCP → TCPStream.read). Counting starts after a warm-up transfer, so pools,
// buffers and the session are in place. Prints one JSON object; Tests/WireNetTests runs it in a
// process of its own so that nothing else allocates while it counts.
//
// usage: DataPathAllocationProbe [crypto threads] [measured MiB] [chunk KiB]
import CMallocCounter
import Foundation
import Logging
import Wire
import WireGuard
import WireNet

let arguments = CommandLine.arguments
let cryptoThreads = arguments.count > 1 ? Int(arguments[1]) : nil
let measuredBytes = (arguments.count > 2 ? Int(arguments[2]) ?? 64 : 64) << 20
let chunkSize = (arguments.count > 3 ? Int(arguments[3]) ?? 256 : 256) << 10
let warmUpBytes = 16 << 20

var logger = Logger(label: "probe")
logger.logLevel = .error
var options = Node.Options()
options.cryptoThreads = cryptoThreads
let serverKey = PrivateKey()
let clientKey = PrivateKey()
let server = Node(configuration: NodeConfiguration(
    privateKey: serverKey, addresses: [IPPrefix("100.64.30.1/32")!],
    peers: [.init(publicKey: clientKey.publicKey, allowedIPs: [IPPrefix("100.64.30.2/32")!])]),
    options: options, logger: logger)
try await server.start()
let port = try await server.status().listenPort
let client = Node(configuration: NodeConfiguration(
    privateKey: clientKey, addresses: [IPPrefix("100.64.30.2/32")!],
    peers: [.init(publicKey: serverKey.publicKey, endpoint: PeerEndpoint(host: "127.0.0.1", port: port),
                  allowedIPs: [IPPrefix("100.64.30.1/32")!])]),
    options: options, logger: logger)
try await client.start()
let listener = try await server.listen(tcp: 5001)

/// Reads until `bytes` arrived; returns the number of read calls.
func drain(_ stream: TCPStream, bytes: Int) async throws -> Int {
    var total = 0
    var calls = 0
    while total < bytes, let chunk = try await stream.read(maximumLength: chunkSize) {
        total += chunk.count
        calls += 1
    }
    precondition(total == bytes, "lost bytes: \(total) of \(bytes)")
    return calls
}

let accepted = Task { () async throws -> TCPStream in try await listener.accept()! }
let stream = try await client.dial(tcp: "100.64.30.1", port: 5001)
let receiver = try await accepted.value
let chunk = [UInt8](repeating: 7, count: chunkSize)

func transfer(_ bytes: Int) async throws -> (writes: Int, reads: Int) {
    let reading = Task { try await drain(receiver, bytes: bytes) }
    var sent = 0
    var writes = 0
    while sent < bytes {
        try await stream.write(chunk)
        sent += chunk.count
        writes += 1
    }
    return (writes, try await reading.value)
}

/// CPU time (user + system) of the whole process so far: both nodes, their crypto workers and the
/// tasks of this probe.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

_ = try await transfer(warmUpBytes)
let before = wirenet_allocation_count()
let cpuBefore = processCPUSeconds()
let start = Date()
let (writes, reads) = try await transfer(measuredBytes)
let elapsed = Date().timeIntervalSince(start)
let cpuSeconds = processCPUSeconds() - cpuBefore
let allocations = wirenet_allocation_count() - before
// Full-size TCP segments of the default MTU (1420 − 40 bytes of IPv4 and TCP headers).
let dataPackets = measuredBytes / 1380
let threads = cryptoThreads.map(String.init) ?? "null"
print("""
{"cryptoThreads": \(threads), "measuredBytes": \(measuredBytes), "chunkBytes": \(chunkSize), \
"dataPackets": \(dataPackets), "writeCalls": \(writes), "readCalls": \(reads), \
"allocations": \(allocations), "seconds": \(elapsed), "cpuSeconds": \(cpuSeconds)}
""")
stream.close()
receiver.close()
await client.close()
await server.close()
