import Dispatch
import Synchronization
import Testing
@testable import WireNet

/// Issue 13: work handed to the loop from other threads (a forwarder's reactor, a task's write or
/// close) wrote the waker every time — a system call each, and on a loop that was running anyway one
/// more turn for nothing. Now only a parked loop is woken, and once per wait.
@Suite("Engine wake-ups", .serialized)
struct EngineWakeUpTests {
    @Test(.timeLimit(.minutes(1)))
    func workQueuedWhileTheLoopRunsWritesNoWakerAndStillRuns() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let (engine, _) = try pair.server.runningEngine()
        let gate = DispatchSemaphore(value: 0)
        // Hold the loop thread inside a turn: it is running, not parked.
        await withCheckedContinuation { (entered: CheckedContinuation<Void, Never>) in
            engine.perform { _ in
                entered.resume()
                gate.wait()
            }
        }
        let before = engine.wakeUpCount
        let ran = Atomic<Int>(0)
        for _ in 0..<100 { engine.perform { _ in ran.add(1, ordering: .relaxed) } }
        let during = engine.wakeUpCount - before
        gate.signal()
        // Queued after the hundred: runs once they have.
        _ = try await engine.query { _ in 0 }
        #expect(during == 0, "\(during) waker writes for work queued while the loop was running a turn")
        #expect(ran.load(ordering: .relaxed) == 100)
    }

    @Test(.timeLimit(.minutes(1)))
    func aParkedLoopIsWokenAtMostOncePerWait() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let (engine, _) = try pair.server.runningEngine()
        let turnsBefore = try await engine.query { $0.load.turns }
        let wakesBefore = engine.wakeUpCount
        let ran = Atomic<Int>(0)
        // Bursts from several threads at once, each burst against a loop that has gone back to wait.
        for _ in 0..<20 {
            DispatchQueue.concurrentPerform(iterations: 50) { _ in
                engine.perform { _ in ran.add(1, ordering: .relaxed) }
            }
            _ = try await engine.query { _ in 0 }
        }
        let turns = try await engine.query { $0.load.turns } - turnsBefore
        let wakes = engine.wakeUpCount - wakesBefore
        #expect(ran.load(ordering: .relaxed) == 1000)
        // Every write of the waker ends one wait, and every wait is followed by one turn (two more
        // for the waits around the first and last reading of the turn count).
        #expect(wakes <= turns + 2, "\(wakes) waker writes for \(turns) loop turns (1000 calls)")
        #expect(wakes >= 1, "the parked loop was woken for the work")
    }
}
