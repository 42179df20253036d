import Benchmark
import NetStack
import Wire

// The TCP/IP stack's segment path alone: two IPStacks handing packets to each other in memory (no
// crypto, no I/O), moving a bulk transfer. The reference is the floor of any stack that copies: the
// same bytes copied twice (into a send ring, out of a receive ring) with memcpy, in the same run.

let megabytesPerSecond = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
let transferSize = 64 << 20
let chunkSize = 64 << 10

/// Runs one transfer between two stacks on a virtual clock; returns the bytes the server read.
func stackTransfer(mtu: Int) throws -> Int {
    var clientConfiguration = IPStackConfiguration(addresses: [IPAddress("100.64.30.1")!])
    clientConfiguration.mtu = mtu
    var serverConfiguration = IPStackConfiguration(addresses: [IPAddress("100.64.30.2")!])
    serverConfiguration.mtu = mtu
    let client = IPStack(configuration: clientConfiguration)
    let server = IPStack(configuration: serverConfiguration)
    let listener = try server.listen(port: 80)
    var now = NetInstant.zero
    let socket = try client.connect(to: IPEndpoint(IPAddress("100.64.30.2")!, 80), now: now)
    let packet = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    defer { packet.deallocate() }
    let chunk = [UInt8](repeating: 0x5A, count: chunkSize)
    var accepted: TCPSocketHandle?
    var sent = 0
    var received = 0
    var idleTurns = 0
    while received < transferSize && idleTurns < 100 {
        // Idle: jump the virtual clock to the next timer (delayed ACK, retransmission), else step 10 µs.
        let timers = [client.nextDeadline, server.nextDeadline].compactMap { $0 }.min()
        now = idleTurns > 0 ? Swift.max(now + .microseconds(10), timers ?? now) : now + .microseconds(10)
        var moved = false
        while let n = client.nextOutgoingPacket(into: packet, now: now) {
            server.receive(UnsafeRawBufferPointer(rebasing: packet[0..<n]), now: now)
            moved = true
        }
        while let n = server.nextOutgoingPacket(into: packet, now: now) {
            client.receive(UnsafeRawBufferPointer(rebasing: packet[0..<n]), now: now)
            moved = true
        }
        client.handleTimers(now: now)
        server.handleTimers(now: now)
        client.pollEvents { _, _ in }
        server.pollEvents { _, _ in }
        if sent < transferSize {
            let n = try chunk.withUnsafeBytes { try client.send(socket, UnsafeRawBufferPointer(rebasing: $0[0..<min(chunkSize, transferSize - sent)])) }
            sent += n
            if n > 0 { moved = true }
        }
        if accepted == nil { accepted = try server.accept(listener) }
        if let accepted {
            let n = try server.receive(accepted) { $0.count }
            received += n
            if n > 0 { moved = true }
        }
        idleTurns = moved ? 0 : idleTurns + 1
    }
    return received
}

/// Two memcpys of every byte through 64 KiB buffers: what copying in and out of rings costs.
func copyReference() -> Int {
    let source = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    let ring = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 16)
    let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    defer { source.deallocate(); ring.deallocate(); destination.deallocate() }
    source.initializeMemory(as: UInt8.self, repeating: 0x5A)
    var offset = 0
    var moved = 0
    while moved < transferSize {
        if offset + chunkSize > ring.count { offset = 0 }
        (ring.baseAddress! + offset).copyMemory(from: source.baseAddress!, byteCount: chunkSize)
        destination.baseAddress!.copyMemory(from: ring.baseAddress! + offset, byteCount: chunkSize)
        offset += chunkSize
        moved += chunkSize
    }
    blackHole(destination[0])
    return moved
}

func measure(_ benchmark: Benchmark, _ body: () throws -> Int) rethrows {
    let clock = ContinuousClock()
    for _ in benchmark.scaledIterations {
        let start = clock.now
        let bytes = try body()
        let elapsed = start.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        precondition(bytes == transferSize, "transfer incomplete: \(bytes) of \(transferSize)")
        benchmark.measurement(megabytesPerSecond, Int(Double(bytes) / seconds / 1e6))
    }
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, megabytesPerSecond], maxDuration: .seconds(10), maxIterations: 5)
    Benchmark("TCP 64 MiB between two stacks in memory, MTU 1420", configuration: configuration) { benchmark in
        try measure(benchmark) { try stackTransfer(mtu: 1420) }
    }
    Benchmark("TCP 64 MiB between two stacks in memory, MTU 65535", configuration: configuration) { benchmark in
        try measure(benchmark) { try stackTransfer(mtu: 65535) }
    }
    Benchmark("64 MiB copied in and out of a ring (memcpy reference)", configuration: configuration) { benchmark in
        measure(benchmark) { copyReference() }
    }
}
