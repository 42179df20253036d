// Loopback throughput of UDPTransport's two backends, for perf/udp-bench.sh: one sender and one
// receiver transport in this process (sender on the main thread, receiver on its own thread), the
// same shape as perf/udp-reference.c. Prints one table row per path.
//
// usage: UDPTransportBench [size] [count] [reference datagrams/s] [offload reference datagrams/s]
// The "vs ref" column compares like with like: offload rows against the C reference with GSO/GRO,
// rows without offload against the C reference without.
import CMallocCounter
import Foundation
import Synchronization
import UDPTransport

let arguments = CommandLine.arguments
let size = arguments.count > 1 ? Int(arguments[1]) ?? 1200 : 1200
let count = arguments.count > 2 ? Int(arguments[2]) ?? 1_000_000 : 1_000_000
let referenceRate = arguments.count > 3 ? Double(arguments[3]) : nil
let offloadReferenceRate = arguments.count > 4 ? Double(arguments[4]) : nil
let batchSize = 64

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

/// The receiving side, owned by its thread once started.
final class ReceiverLoop: @unchecked Sendable {
    let transport: UDPTransport
    let senderDone = Atomic<Bool>(false)
    var datagrams = 0
    var bytes = 0
    var lastReceive = 0.0

    init(_ transport: UDPTransport) { self.transport = transport }

    func run() {
        var batch = ReceiveBatch(capacity: 512)
        var idleSince: Double? = nil
        while true {
            do { try transport.receive(into: &batch, timeout: .milliseconds(50)) } catch { break }
            if batch.isEmpty {
                guard senderDone.load(ordering: .acquiring) else { continue }
                let now = monotonic()
                if let idleSince, now - idleSince > 0.2 { break }
                if idleSince == nil { idleSince = now }
                continue
            }
            idleSince = nil
            datagrams += batch.count
            for datagram in batch.datagrams { bytes += datagram.bytes.count }
            lastReceive = monotonic()
        }
        transport.recycle(&batch)
    }
}

func measure(_ name: String, backend: UDPTransport.Backend, offload: Bool) throws {
    var configuration = UDPTransport.Configuration(port: 0, backend: backend, gso: offload, gro: offload)
    configuration.address = .loopbackIPv4
    configuration.receiveBufferCount = offload ? 256 : 1024
    let receiver = try UDPTransport(configuration: configuration)
    let sender = try UDPTransport(configuration: configuration)
    let destination = UDPEndpoint.loopbackIPv4(port: receiver.localPort)

    // Fill every send buffer once; the loop then only sets lengths (the reference does not copy either).
    var all: [PacketBuffer] = []
    while let buffer = sender.makeSendBuffer() { all.append(buffer) }
    for buffer in all {
        for index in 0 ..< size { buffer.storage[buffer.dataStart + index] = UInt8(truncatingIfNeeded: index &* 31 &+ 1) }
        sender.releaseSendBuffer(buffer)
    }
    all = []

    let loop = ReceiverLoop(receiver)
    let thread = Thread { loop.run() }
    thread.stackSize = 1 << 20
    var batch = SendBatch(capacity: batchSize)
    var scratch = ReceiveBatch(capacity: 128)
    let allocationsBefore = wirenet_allocation_count()
    let cpuBefore = cpuSeconds()
    thread.start()
    let start = monotonic()
    var sent = 0
    while sent < count {
        while batch.count < batchSize {
            guard var buffer = sender.makeSendBuffer() else {
                // Every buffer is in flight: collect completions.
                sender.send(&batch)
                try sender.receive(into: &scratch, timeout: .milliseconds(1))
                continue
            }
            buffer.dataCount = size
            batch.append(buffer, to: destination)
        }
        sent += batch.count
        sender.send(&batch)
    }
    loop.senderDone.store(true, ordering: .releasing)
    while !thread.isFinished { usleep(1000) }
    let cpu = cpuSeconds() - cpuBefore
    let allocations = wirenet_allocation_count() - allocationsBefore
    let elapsed = loop.lastReceive - start
    let rate = Double(loop.datagrams) / elapsed
    let gbits = Double(loop.bytes) * 8 / elapsed / 1e9
    let loss = 100 * Double(sent - loop.datagrams) / Double(sent)
    let cpuPerDatagram = loop.datagrams > 0 ? cpu * 1e9 / Double(loop.datagrams) : 0
    let allocationsPerDatagram = Double(allocations) / Double(max(loop.datagrams, 1))
    let ratio = (offload ? offloadReferenceRate : referenceRate).map { String(format: "%.2fx", rate / $0) } ?? "-"
    print(String(format: "%@ %10d %12.0f %8.2f %6.1f%% %10.0f %9.4f %7@",
                 name.padding(toLength: 28, withPad: " ", startingAt: 0), loop.datagrams, rate, gbits, loss,
                 cpuPerDatagram, allocationsPerDatagram, ratio))
    scratch = ReceiveBatch(capacity: 128)
    sender.close()
    receiver.close()
}

try measure("Swift io_uring + GSO/GRO", backend: .ioUring, offload: true)
try measure("Swift portable + GSO/GRO", backend: .portable, offload: true)
try measure("Swift io_uring, no offload", backend: .ioUring, offload: false)
try measure("Swift portable, no offload", backend: .portable, offload: false)
