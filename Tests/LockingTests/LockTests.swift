import Glibc
import Locking
import Testing

/// `Lock` excludes, hands its value over between threads, and (in `scripts/sanitizers.sh thread`)
/// makes that hand-over visible to ThreadSanitizer: there, `handOverBetweenContendingThreads` fails
/// the run with a data race report if the annotations are missing, because its threads contend for
/// the lock and `Synchronization.Mutex` then hands it over in the kernel.
@Suite struct LockTests {
    struct Tally {
        var count = 0
        var recent: [Int] = []
        var checksum = 0
    }

    /// Where the threads find the lock (a `Lock` is not copyable: it lives in one place, as in a class
    /// of WireNet's).
    final class Shared: Sendable {
        let tally = Lock(Tally())
    }

    /// Threads that each take the lock many times: every increment is kept (no two threads inside at
    /// once), and the value written by one thread is the value the next one reads.
    @Test func handOverBetweenContendingThreads() {
        let threads = 4
        let rounds = 5_000
        let shared = Shared()
        runOnThreads(threads) { index in
            for round in 0..<rounds {
                shared.tally.withLock { tally in
                    // Hold the lock for a while (some dozens of reads and writes) so that the others
                    // block on it in the kernel: the contended hand-over this type annotates.
                    tally.count += 1
                    tally.recent.append(index &* rounds &+ round)
                    if tally.recent.count > 64 { tally.recent.removeFirst(32) }
                    tally.checksum = tally.recent.reduce(0, &+)
                }
            }
        }
        let (count, checksum, recent) = shared.tally.withLock { ($0.count, $0.checksum, $0.recent) }
        #expect(count == threads * rounds)
        #expect(checksum == recent.reduce(0, &+))
    }

    struct Refused: Error {}

    /// A body that throws releases the lock (the next `withLock` does not block) and leaves the
    /// changes it made before throwing; the caller gets the typed error.
    @Test func throwingBodyReleasesTheLock() {
        let shared = Shared()
        #expect(throws: Refused.self) {
            try shared.tally.withLock { (tally: inout Tally) throws(Refused) in
                tally.count = 7
                throw Refused()
            }
        }
        #expect(shared.tally.withLock { $0.count } == 7)
    }

    /// Swift and C agree on whether this is a ThreadSanitizer build: a `--sanitize=thread` build whose
    /// Swift side did not see the sanitizer would compile every lock without its annotations.
    @Test func annotationsFollowTheBuild() {
        #expect(lockAnnotationsEnabled == lockAnnotationsCompiledWithThreadSanitizer)
    }
}

/// Runs `body(index)` on `count` POSIX threads at once and joins them (thread start and join are the
/// only synchronization TSan sees besides the code under test).
private func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Job: @unchecked Sendable {
        let index: Int
        let body: @Sendable (Int) -> Void
        init(index: Int, body: @escaping @Sendable (Int) -> Void) { self.index = index; self.body = body }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        var thread = pthread_t()
        let job = Unmanaged.passRetained(Job(index: index, body: body)).toOpaque()
        let started = pthread_create(&thread, nil, { argument in
            let job = Unmanaged<Job>.fromOpaque(argument!).takeRetainedValue()
            job.body(job.index)
            return nil
        }, job)
        precondition(started == 0, "pthread_create: \(started)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}
