#if canImport(Glibc)
import Glibc
#endif
import CWireNetShims
import Synchronization
import WireGuard

/// Helper threads that seal and open the engine's batches of transport messages, so one node's
/// data plane uses more than one core (wireguard-go runs one encryption and one decryption worker
/// per CPU).
///
/// The engine thread stays the only owner of WireGuard and stack state: it prepares each batch
/// (counters, headers, replay pre-checks), hands it over, takes part in the AEAD itself, and reads
/// the results back in order — each as soon as it is done, so its in-order work overlaps the
/// helpers' AEAD. Helpers only run ``TransportCryptoJob/perform()`` on the jobs they claim from the
/// shared ``CryptoBatch``es.
///
/// Two batches may be in flight (a ring of two): the owner ``launch()``es the batch it filled and
/// fills the next while the helpers seal or open the first, then takes the first back with
/// ``finishOldest(_:)`` while the helpers work on the second — batches finish in launch order, jobs
/// in submission order, so each peer's packets stay in order. Without that, every batch boundary is
/// a wait: the helpers have nothing while the owner completes one batch's tail and prepares the
/// next one's first jobs, and the owner spins while a helper finishes the last chunk.
///
/// ```
///  owner:   fill A ─ launch A ─ fill B ─ launch B ─ finish A (in order) ─ fill A ─ launch A ─ finish B ─ …
///  helpers:          └── A ─────────────────┴── B ──────────────────────────────┴── A ───────────────
/// ```
///
/// Hand-off is lock-free: a helper that finds nothing to claim spins briefly, then sleeps on a
/// semaphore; the engine posts it only when a helper is asleep and a batch is large enough to be
/// worth sharing (a wake-up costs a few microseconds, about one 1400-byte AEAD).
@_spi(Benchmarks)
public final class CryptoWorkers: @unchecked Sendable {
    /// Threads that run AEAD work, the engine thread included.
    public let threadCount: Int
    /// Batches smaller than this stay on the engine thread (waking a helper would cost more).
    public static let minimumSharedBatch = 8
    /// Jobs between two publications of a growing batch: helpers start on the first ones while the
    /// owner prepares the rest; a multiple of ``minimumSharedBatch`` (smaller batches stay local).
    public static let publishInterval = 16
    /// Empty claim checks a helper makes before it sleeps, each after a PAUSE (20-35 ns on this
    /// project's x86-64 VMs): about 50 µs, the gap between back-to-back batches of a busy engine, so
    /// a stream of batches finds helpers awake, while an idle or descheduled engine does not keep a
    /// helper burning a core other processes (or the engine itself) could use. A batch of 256 jobs
    /// is about 0.5 ms of AEAD, so a wake-up (a few µs) per batch costs little.
    static let spinsBeforeSleep = 2_000

    /// The two batches the owner fills in turn and the helpers claim from (reused for every hand-off).
    private let ring: (CryptoBatch, CryptoBatch)
    /// What the threads poll of `ring`, as raw pointers: checking a batch costs no retain and release
    /// (an atomic write to the batch object's header line, which the owner writes for every job).
    private let shared: (CryptoBatch.Shared, CryptoBatch.Shared)
    /// Ring index of the oldest launched batch (owner only).
    @exclusivity(unchecked) private var head = 0
    /// Batches launched and not yet finished, 0...2 (owner only).
    @exclusivity(unchecked) public private(set) var launchedCount = 0
    private let wakeup: UnsafeMutablePointer<sem_t>
    /// Line 0: helpers asleep (or about to be); line 1: jobs the helpers ran; line 2: a copy of
    /// `head` for the helpers, which claim from the oldest batch first. Lines of their own, so a
    /// helper's writes do not slow the engine's reads of its own fields.
    private let counters = CacheLineAtomics(count: 3)
    private var sleepers: UnsafeMutablePointer<Atomic<Int>> { counters[0] }
    private let stopping = Atomic<Bool>(false)
    private var helpers: [LoopThread] = []
    /// `threadCount - 1`: read for every job, where reading `helpers` (a `var`) would cost a dynamic
    /// exclusivity check. After ``stop()`` jobs still published run on the owner's thread as it waits.
    private let helperCount: Int

    /// Jobs the helper threads ran so far (the rest ran on the owner's thread): shows whether the
    /// helpers got a core.
    public var helperJobCount: Int { counters[1].pointee.load(ordering: .relaxed) }

    /// Starts `threadCount - 1` helper threads (the caller's thread is the first of `threadCount`)
    /// sharing two batches of `batchCapacity` jobs each. `threadCount` below 1 counts as 1: no helpers, every
    /// job runs on the caller's thread. Call ``stop()`` when done: the helpers keep the pool alive.
    public init(threadCount: Int, batchCapacity: Int) throws(NodeError) {
        self.threadCount = max(1, threadCount)
        helperCount = self.threadCount - 1
        ring = (CryptoBatch(capacity: batchCapacity), CryptoBatch(capacity: batchCapacity))
        shared = (ring.0.shared, ring.1.shared)
        wakeup = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(wakeup, 0, 0)
        for index in 1..<self.threadCount {
            do {
                helpers.append(try LoopThread(name: "wirenet-crypto\(index)") { [self] in helperLoop() })
            } catch {
                stop()
                throw error
            }
        }
    }

    /// One crypto thread per online core (wireguard-go: one worker per CPU).
    public static var defaultThreadCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    deinit {
        stop()
        sem_destroy(wakeup)
        wakeup.deallocate()
    }

    @inline(__always)
    private func ringBatch(_ index: Int) -> CryptoBatch {
        index == 0 ? ring.0 : ring.1
    }

    @inline(__always)
    private func sharedBatch(_ index: Int) -> CryptoBatch.Shared {
        index == 0 ? shared.0 : shared.1
    }

    /// Ring index (0 or 1) of the batch being filled, for owners that keep per-batch data next to
    /// it (owner only, while fewer than two batches are launched).
    @inline(__always)
    public var fillingSlot: Int {
        precondition(launchedCount < 2, "finish the oldest batch before filling another")
        return (head + launchedCount) & 1
    }

    /// Ring index of the oldest launched batch, the one ``finishOldest(_:)`` takes back next.
    public var oldestSlot: Int { head }

    /// The batch being filled (owner only, while fewer than two batches are launched).
    @inline(__always)
    public var batch: CryptoBatch { ringBatch(fillingSlot) }

    /// Adds a job to ``batch`` (owner only). Every ``minimumSharedBatch`` jobs the batch so far is
    /// published, so helpers start sealing or opening while the owner prepares the rest.
    @inline(__always)
    public func submit(_ job: TransportCryptoJob) {
        let batch = batch
        batch.append(job)
        if helperCount > 0, batch.count % Self.publishInterval == 0 {
            batch.publish()
            wakeSleepers(upTo: helperCount)
        }
    }

    /// Hands the batch being filled over to the helpers in full and starts filling the other one
    /// (owner only). At most two batches are launched: with two, call ``finishOldest(_:)`` before
    /// submitting more. A batch too small to be worth sharing runs here at once.
    public func launch() {
        let current = batch
        if helperCount == 0 || current.count < Self.minimumSharedBatch {
            current.performAllHere()
        } else {
            current.publish()
            wakeSleepers(upTo: helperCount)
        }
        launchedCount += 1
    }

    /// Hands each job of the oldest launched batch to `body` with its index **in submission order**,
    /// as soon as it and every job before it are done, then empties that batch for refilling (owner
    /// only). While it waits, this thread runs unclaimed jobs of that batch, then of the batch
    /// launched after it, so the helpers' last chunks here overlap its own work there.
    @inline(__always)
    public func finishOldest(_ body: (Int, TransportCryptoJob) -> Void) {
        precondition(launchedCount > 0, "no batch launched")
        let oldest = ringBatch(head)
        let (waiting, next) = (sharedBatch(head), launchedCount == 2 ? sharedBatch(head ^ 1) : nil)
        for index in 0..<oldest.count {
            waiting.waitForJob(index, helping: next)
            body(index, oldest[index])
        }
        oldest.reset()
        head ^= 1
        launchedCount -= 1
        counters[2].pointee.store(head, ordering: .relaxed)
    }

    /// Stops and joins the helpers. Calling it again does nothing.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for _ in helpers { sem_post(wakeup) }
        for helper in helpers { helper.join() }
        helpers = []
    }

    @inline(__always)
    private func wakeSleepers(upTo wanted: Int) {
        guard sleepers.pointee.load(ordering: .sequentiallyConsistent) > 0 else { return }
        var woken = 0
        while woken < wanted {
            let asleep = sleepers.pointee.load(ordering: .sequentiallyConsistent)
            guard asleep > 0 else { return }
            if sleepers.pointee.compareExchange(expected: asleep, desired: asleep - 1, ordering: .sequentiallyConsistent).exchanged {
                sem_post(wakeup)
                woken += 1
            }
        }
    }

    private func helperLoop() {
        let (batch0, batch1) = shared
        var idle = 0
        while !stopping.load(ordering: .relaxed) {
            // The oldest batch first: the owner takes the batches back in launch order.
            let oldestIsFirst = counters[2].pointee.load(ordering: .relaxed) & 1 == 0
            let (first, second) = oldestIsFirst ? (batch0, batch1) : (batch1, batch0)
            if first.hasUnclaimedJobs || second.hasUnclaimedJobs {
                let ran = first.performAvailable() + second.performAvailable()
                if ran > 0 {
                    counters[1].pointee.add(ran, ordering: .relaxed)
                    idle = 0
                    continue
                }
            }
            idle += 1
            guard idle >= Self.spinsBeforeSleep else {
                wirenet_cpu_relax()  // PAUSE: leaves the core's resources to a sibling thread
                continue
            }
            idle = 0
            // Announce the sleep, then look once more: the engine either sees the announcement after
            // publishing (and posts) or this thread sees the published jobs.
            sleepers.pointee.add(1, ordering: .sequentiallyConsistent)
            if batch0.hasUnclaimedJobs || batch1.hasUnclaimedJobs {
                // Take the announcement back, unless the engine already did and posted for us.
                var asleep = sleepers.pointee.load(ordering: .sequentiallyConsistent)
                while asleep > 0 {
                    let (exchanged, original) = sleepers.pointee.compareExchange(
                        expected: asleep, desired: asleep - 1, ordering: .sequentiallyConsistent)
                    if exchanged { break }
                    asleep = original
                }
                if asleep > 0 { continue }
            }
            while sem_wait(wakeup) != 0 && errno == EINTR {}
        }
    }
}
