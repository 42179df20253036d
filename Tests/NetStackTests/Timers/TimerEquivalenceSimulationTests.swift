import Testing
import Wire
@testable import NetStack

/// The timer algorithm before `DeadlineHeap`: every `handleTimers` scanned every slot, and the
/// earliest deadline was the minimum over all connections. Kept here as the reference the heap must
/// reproduce event for event.
extension IPStack {
    func handleTimersByScan(now: NetInstant) {
        reassembly.expire(now: now)
        expireTimeWaitRecords(now: now)
        refreshStaleDeadlines()
        let due = tcpSlots.indices.filter { tcpSlots[$0].connection?.nextDeadline.map { $0 <= now } ?? false }
        for i in due {
            guard let deadline = tcpSlots[i].connection?.nextDeadline, deadline <= now else { continue }
            let events = tcpSlots[i].connection!.handleTimers(now: now)
            connectionChanged(slot: Int32(i), events: events)
        }
    }

    var nextDeadlineByScan: NetInstant? {
        let connections = tcpSlots.compactMap { $0.connection?.nextDeadline }.min()
        return earliest(earliest(reassembly.nextDeadline, connections), tcpTimeWait.records.values.map(\.expiry).min())
    }
}

@Suite("Timer heap against the full scan")
struct TimerEquivalenceSimulationTests {
    enum Driver { case heap, scan }

    /// What one run produced: every packet with the time it was sent, and how the heap behaved.
    struct Run {
        var trace: [String] = []
        var deadlineMismatches = 0
        var visitMismatches = 0
        var timerVisits = 0
    }

    /// Up to 24 connections between two stacks over lossy, reordering links for 20 simulated seconds,
    /// with applications that write, read (or stop reading, closing the window), half-close, close
    /// and abort at random; keepalive, FIN-WAIT-2 and TIME-WAIT timers are short so that they fire.
    static func simulate(seed: UInt64, driver: Driver) throws -> Run {
        var run = Run()
        var app = SeededRandom(seed: seed)
        func config(_ address: String, _ stackSeed: UInt64) -> IPStackConfiguration {
            var c = IPStackConfiguration(addresses: [IPAddress(address)!])
            c.randomSeed = stackSeed
            c.tcp.sendBufferSize = 16384
            c.tcp.receiveBufferSize = 8192
            c.tcp.timeWaitDuration = .milliseconds(700)
            c.tcp.finWait2Timeout = .milliseconds(900)
            c.tcp.keepalive = .init(idle: .milliseconds(400), interval: .milliseconds(150), count: 3)
            return c
        }
        let a = IPStack(configuration: config("100.64.9.1", seed &* 3))
        let b = IPStack(configuration: config("100.64.9.2", seed &* 5))
        let impairments = LinkImpairments(loss: 0.04, duplication: 0.01, reordering: 0.03, delay: .milliseconds(4))
        var links = [FaultyLink<[UInt8]>(impairments, seed: seed &+ 11), FaultyLink<[UInt8]>(impairments, seed: seed &+ 13)]
        let stacks = [a, b]
        let listener = try b.listen(port: 7000)
        var sockets: [(stack: IPStack, handle: TCPSocketHandle)] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        let chunk = [UInt8](repeating: 0xA5, count: 6000)
        var now = NetInstant.zero
        var nextTick = NetInstant.zero
        let end = NetInstant.zero + .seconds(20)

        func pump() {
            for (side, stack) in stacks.enumerated() {
                while let n = stack.nextOutgoingPacket(into: buffer, now: now) {
                    let packet = Array(buffer.prefix(n))
                    var hash: UInt64 = 1469598103934665603
                    for byte in packet { hash = (hash ^ UInt64(byte)) &* 1099511628211 }
                    run.trace.append("\(now.nanoseconds) \(side) \(n) \(hash)")
                    links[side].send(packet, size: n, now: now)
                }
            }
        }
        func applications() {
            while let accepted = try? b.accept(listener) { sockets.append((b, accepted)) }
            if sockets.count < 24 && app.chance(0.3) {
                if let s = try? a.connect(to: IPEndpoint(IPAddress("100.64.9.2")!, 7000), now: now) { sockets.append((a, s)) }
            }
            guard !sockets.isEmpty else { return }
            let pick = Int(app.next() % UInt64(sockets.count))
            let (stack, socket) = sockets[pick]
            switch app.next() % 20 {
            case 0..<8:
                let length = Int(app.next() % UInt64(chunk.count)) + 1
                _ = chunk.withUnsafeBytes { try? stack.send(socket, UnsafeRawBufferPointer(rebasing: $0.prefix(length))) }
            case 8..<14:
                _ = try? stack.receive(socket) { $0.count }
            case 14: try? stack.shutdownWrite(socket)
            case 15:
                stack.close(socket, now: now)
                sockets.remove(at: pick)
            case 16 where app.chance(0.3):
                stack.abort(socket)
                sockets.remove(at: pick)
            default: break  // this application does not read now: windows fill and close
            }
        }

        while now < end {
            if now >= nextTick {
                applications()
                nextTick = now + .milliseconds(Int64(app.next() % 20) + 1)
            }
            pump()
            var deadlines: [NetInstant?] = [links[0].nextArrival, links[1].nextArrival, nextTick]
            for stack in stacks {
                switch driver {
                case .heap:
                    let deadline = stack.nextDeadline
                    if deadline != stack.nextDeadlineByScan { run.deadlineMismatches += 1 }
                    deadlines.append(deadline)
                case .scan:
                    deadlines.append(stack.nextDeadlineByScan)
                }
            }
            now = Swift.max(now, deadlines.compactMap { $0 }.min()!)
            for (side, stack) in stacks.enumerated() {
                for packet in links[1 - side].takeDue(now: now) {
                    packet.withUnsafeBytes { stack.receive($0, now: now) }
                }
            }
            for stack in stacks {
                switch driver {
                case .heap:
                    let due = Set(stack.tcpSlots.indices.filter {
                        stack.tcpSlots[$0].connection?.nextDeadline.map { $0 <= now } ?? false
                    }.map(Int32.init))
                    let before = stack.counters.tcpTimerVisits
                    stack.handleTimers(now: now)
                    if Set(stack.tcpDueSlots) != due || stack.counters.tcpTimerVisits - before != due.count {
                        run.visitMismatches += 1
                    }
                    run.timerVisits += stack.counters.tcpTimerVisits - before
                case .scan:
                    stack.handleTimersByScan(now: now)
                }
                stack.pollEvents { _, _ in }
            }
        }
        return run
    }

    @Test("The heap fires exactly the timers the full scan fires, at the same times: identical packet traces over 12 seeds")
    func heapMatchesScan() throws {
        for seed in UInt64(1)...12 {
            let heap = try Self.simulate(seed: seed, driver: .heap)
            let scan = try Self.simulate(seed: seed, driver: .scan)
            #expect(heap.trace.count > 500, "seed \(seed): too little traffic to mean anything")
            #expect(heap.timerVisits > 50, "seed \(seed): too few timers fired")
            #expect(heap.deadlineMismatches == 0, "seed \(seed)")
            #expect(heap.visitMismatches == 0, "seed \(seed)")
            let firstDifference = zip(heap.trace, scan.trace).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            let identical = heap.trace == scan.trace
            #expect(identical,
                    "seed \(seed): traces differ at \(firstDifference ?? Swift.min(heap.trace.count, scan.trace.count))")
        }
    }
}
