// 100,000 idle TCP connections between two NetStack stacks in one process, driven by one engine
// thread the way WireNet's engine drives its stack: each turn runs due timers, moves packets,
// drains events, then sleeps in poll(2) on a wake descriptor until the earliest deadline. After the
// connections are set up, the engine thread's CPU time is read over an idle window, both from the
// thread itself (CLOCK_THREAD_CPUTIME_ID) and from /proc/self/task/<tid>/stat.
//
// Usage: NetStackIdleTimersBench [connections] [idle seconds] [tick ms] [keepalive 0|1]
//   tick ms > 0 also wakes the loop at least that often (a turn that finds nothing due), to show
//   that a turn costs the same with 100k connections as with none.
//   keepalive 1 enables TCP keepalive (Linux defaults: first probe after 2 h), so that every
//   connection holds a deadline in the timer heap.
import Foundation
import Glibc
import NetStack
import Wire

let arguments = CommandLine.arguments
let connections = arguments.count > 1 ? Int(arguments[1])! : 100_000
let idleSeconds = arguments.count > 2 ? Double(arguments[2])! : 30
let tickMilliseconds = arguments.count > 3 ? Int64(arguments[3])! : 0
let keepalive = arguments.count > 4 && arguments[4] == "1"

func monotonicNow() -> NetInstant {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return NetInstant(nanoseconds: Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec))
}

func threadCPUNanoseconds() -> Int64 {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
}

/// utime + stime of one thread, in clock ticks (fields 14 and 15 of /proc/self/task/<tid>/stat).
func procTicks(tid: Int32) -> Int64 {
    guard let text = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return -1 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return Int64(fields[11])! + Int64(fields[12])!
}

func residentKiB() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ")[1]) ?? -1
    }
    return -1
}

final class Engine {
    let client: IPStack
    let server: IPStack
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    /// Never signalled: the loop's wake descriptor, as the real engine waits on one.
    let wake: Int32 = {
        var ends: [Int32] = [0, 0]
        precondition(pipe(&ends) == 0)
        return ends[0]
    }()
    var turns = 0
    var timerTurns = 0

    init() {
        func config(_ address: String, seed: UInt64) -> IPStackConfiguration {
            var c = IPStackConfiguration(addresses: [IPAddress(address)!])
            c.randomSeed = seed
            c.maximumConnections = connections + 1
            c.maximumConnectionsPerRemoteAddress = connections + 1
            c.tcp.sendBufferSize = 4096
            c.tcp.receiveBufferSize = 4096
            if keepalive { c.tcp.keepalive = .init() }
            return c
        }
        client = IPStack(configuration: config("100.64.12.1", seed: 1))
        server = IPStack(configuration: config("100.64.12.2", seed: 2))
    }

    /// Moves every queued packet across until both stacks are quiet.
    func exchange(now: NetInstant) {
        var moved = true
        while moved {
            moved = false
            while let n = client.nextOutgoingPacket(into: buffer, now: now) {
                server.receive(UnsafeRawBufferPointer(rebasing: buffer.prefix(n)), now: now)
                moved = true
            }
            while let n = server.nextOutgoingPacket(into: buffer, now: now) {
                client.receive(UnsafeRawBufferPointer(rebasing: buffer.prefix(n)), now: now)
                moved = true
            }
        }
    }

    func setUp() throws {
        let listeners = try (0..<(connections + 9_999) / 10_000).map {
            try server.listen(port: 6000 + UInt16($0), backlog: 1024)
        }
        var opened = 0
        var accepted = 0
        while opened < connections {
            let now = monotonicNow()
            for _ in 0..<Swift.min(1000, connections - opened) {
                _ = try client.connect(to: IPEndpoint(IPAddress("100.64.12.2")!, 6000 + UInt16(opened / 10_000)), now: now)
                opened += 1
            }
            exchange(now: now)
            for listener in listeners {
                while (try server.accept(listener)) != nil { accepted += 1 }
            }
        }
        client.pollEvents { _, _ in }
        server.pollEvents { _, _ in }
        precondition(accepted == connections && client.connectionCount == connections, "set-up failed")
    }

    /// One engine turn: timers, packets, events; then the wait.
    func turn(until end: NetInstant) {
        var now = monotonicNow()
        var ranTimers = false
        for stack in [client, server] {
            if let deadline = stack.nextDeadline, deadline <= now {
                stack.handleTimers(now: now)
                ranTimers = true
            }
        }
        if ranTimers { timerTurns += 1 }
        exchange(now: now)
        client.pollEvents { _, _ in }
        server.pollEvents { _, _ in }
        turns += 1
        now = monotonicNow()
        var wakeAt = end
        if let d = client.nextDeadline, d < wakeAt { wakeAt = d }
        if let d = server.nextDeadline, d < wakeAt { wakeAt = d }
        if tickMilliseconds > 0 { wakeAt = Swift.min(wakeAt, now + .milliseconds(tickMilliseconds)) }
        let wait = Swift.max(0, wakeAt.nanoseconds - now.nanoseconds)
        var descriptor = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32((wait + 999_999) / 1_000_000))
    }
}

struct Measurement {
    var tid: Int32 = 0
    var cpuNanoseconds: Int64 = 0
    var procTicks: Int64 = 0
    var wallNanoseconds: Int64 = 0
    var setUpSeconds = 0.0
    var turns = 0
    var timerTurns = 0
    var deadlineClient: NetInstant? = nil
    var deadlineFrom = NetInstant.zero
}

let done = DispatchSemaphore(value: 0)
nonisolated(unsafe) var measurement = Measurement()
let thread = Thread {
    let engine = Engine()
    let setUpStart = monotonicNow()
    do { try engine.setUp() } catch { fatalError("set-up: \(error)") }
    measurement.setUpSeconds = Double(monotonicNow().nanoseconds - setUpStart.nanoseconds) / 1e9
    // /proc/thread-self links to /proc/<pid>/task/<tid> of the calling thread.
    let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
    measurement.tid = Int32(link.split(separator: "/").last ?? "") ?? -1
    // Let set-up's last timers (delayed ACKs, if any) run out before measuring.
    let settle = monotonicNow() + .seconds(1)
    while monotonicNow() < settle { engine.turn(until: settle) }
    engine.turns = 0
    engine.timerTurns = 0
    let ticksStart = procTicks(tid: measurement.tid)
    let cpuStart = threadCPUNanoseconds()
    let start = monotonicNow()
    let end = start + .nanoseconds(Int64(idleSeconds * 1e9))
    while monotonicNow() < end { engine.turn(until: end) }
    measurement.cpuNanoseconds = threadCPUNanoseconds() - cpuStart
    measurement.procTicks = procTicks(tid: measurement.tid) - ticksStart
    measurement.wallNanoseconds = monotonicNow().nanoseconds - start.nanoseconds
    measurement.turns = engine.turns
    measurement.timerTurns = engine.timerTurns
    measurement.deadlineClient = engine.client.nextDeadline
    measurement.deadlineFrom = monotonicNow()
    withExtendedLifetime(engine) { done.signal() }
}
thread.stackSize = 8 << 20
thread.start()
done.wait()

let m = measurement
let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
let percent = Double(m.cpuNanoseconds) / Double(m.wallNanoseconds) * 100
let procPercent = Double(m.procTicks) / ticksPerSecond / (Double(m.wallNanoseconds) / 1e9) * 100
print("connections \(connections) (both ends in one process), keepalive \(keepalive ? "on (2 h idle)" : "off"), tick \(tickMilliseconds) ms")
print(String(format: "set-up %.1f s; idle window %.1f s; engine turns %d (%d ran timers)",
             m.setUpSeconds, Double(m.wallNanoseconds) / 1e9, m.turns, m.timerTurns))
print(String(format: "engine thread CPU %.3f ms = %.4f %% of a core (CLOCK_THREAD_CPUTIME_ID); /proc/self/task/%d/stat %d ticks = %.2f %%",
             Double(m.cpuNanoseconds) / 1e6, percent, m.tid, m.procTicks, procPercent))
let nextIn = m.deadlineClient.map { String(format: "in %.0f s", Double($0.nanoseconds - m.deadlineFrom.nanoseconds) / 1e9) }
print("CPU per turn \(m.turns > 0 ? m.cpuNanoseconds / Int64(m.turns) / 1000 : 0) us; client's next deadline after the window: \(nextIn ?? "none"); RSS \(residentKiB() / 1024) MiB")
print(String(format: "RESULT connections=%d keepalive=%d tick_ms=%d cpu_percent=%.4f proc_percent=%.2f turns=%d",
             connections, keepalive ? 1 : 0, tickMilliseconds, percent, procPercent, m.turns))
