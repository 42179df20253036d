import Synchronization

/// A batch of ``TransportCryptoJob``s shared lock-free between the thread that owns the device and
/// any number of helper threads (wireguard-go's encryption/decryption queues, one batch at a time).
///
/// ```
///  owner:   append … append ─ publish() ─ append … append ─ publish() ─▶ waitUntilComplete() ─▶ read in order ─▶ reset()
///                              │                             │          (helps, then waits)
///  helpers:                    └──▶ performAvailable() ──────┴──▶ performAvailable()   (claim chunks, AEAD)
/// ```
///
/// The owner fills preallocated slots and publishes how many are ready — as often as it likes, so
/// helpers seal the first packets while the owner is still preparing the next ones — in one atomic
/// word with the claim cursor; every participating thread claims chunks of slots by advancing it, runs
/// their jobs in place and marks each job done (a flag in its slot, the last thing it writes).
/// The owner reads the jobs back **in the order it appended them** — all at once after
/// ``waitUntilComplete()``, or one by one as each is done (``waitForJob(_:)``, so its own in-order
/// work overlaps the helpers' AEAD) — so each peer's packets leave (and reach the stack) in order, as
/// wireguard-go's per-peer in-order queues ensure.
/// There is no lock and no allocation after `init`: a job is copied into its slot, sealed or opened
/// there, and its key copy wiped when the owner resets the batch.
///
/// This type starts no thread (the WireGuard module is sans-IO); whoever runs helper threads calls
/// ``performAvailable()`` from them.
public final class CryptoBatch: @unchecked Sendable {
    /// Most jobs per batch.
    public let capacity: Int
    /// Jobs one claim takes: small enough to balance two threads, large enough that the shared
    /// cursor is touched once per several kilobytes of AEAD.
    public static let claimChunk = 4

    /// What the threads share: the slots and the claim cursor, as raw pointers.
    public let shared: Shared
    /// Jobs appended since the last reset (owner only). Helpers never read this object (they use
    /// ``shared``), so this word, written for every job, shares no line with what they poll.
    @exclusivity(unchecked) public private(set) var count = 0

    /// The part of a batch every thread touches: raw pointers only, so a thread that polls a batch
    /// (a helper looking for work, the owner waiting for a job) copies it without touching a
    /// reference count — an atomic write to the batch object's header, which would otherwise bounce
    /// between the cores on every check.
    ///
    /// Slot `i` lives at `slots + i * slotStride`; the stride is a multiple of 128 bytes (a pair of
    /// cache lines, as x86-64's adjacent-line prefetcher fetches them) so threads finishing
    /// neighbouring jobs do not write the same line. Each slot ends with its job's done flag (at
    /// `doneOffset`), on the line the job's result is written to. The cursor holds, in one word, the
    /// jobs published (high 32 bits) and the next unclaimed slot (low 32 bits), so a claim always
    /// sees the count of the batch it claims from; it lives on a line of its own. Completion is the
    /// slots' done flags, the last thing a thread writes for a job: once the owner saw them all, no
    /// helper write of the batch is still to come, and ``CryptoBatch/reset()`` may clear them.
    public struct Shared: @unchecked Sendable {
        let slots: UnsafeMutableRawPointer
        let slotStride: Int
        let doneOffset: Int
        let cursor: UnsafeMutablePointer<Atomic<Int>>

        @inline(__always)
        func doneFlag(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
            (slots + index * slotStride + doneOffset).assumingMemoryBound(to: Atomic<Int>.self)
        }

        @inline(__always)
        func slot(_ index: Int) -> UnsafeMutablePointer<TransportCryptoJob> {
            (slots + index * slotStride).assumingMemoryBound(to: TransportCryptoJob.self)
        }

        /// True while published jobs remain unclaimed (a cheap check for helpers deciding to sleep).
        @inline(__always)
        public var hasUnclaimedJobs: Bool {
            // Sequentially consistent: a helper announcing its sleep and the owner publishing must not
            // both miss each other (a plain load on x86-64).
            let word = cursor.pointee.load(ordering: .sequentiallyConsistent)
            return word & 0xFFFF_FFFF < word >> 32
        }

        /// Claims and runs chunks of published jobs until none is left unclaimed; any thread.
        /// Returns the number of jobs this call ran.
        @discardableResult
        public func performAvailable() -> Int {
            var ran = 0
            while true {
                let chunk = performChunk()
                guard chunk > 0 else { return ran }
                ran += chunk
            }
        }

        /// Claims and runs one chunk of published jobs, if any is left unclaimed; any thread.
        /// Returns the number of jobs it ran (0 when there was nothing to claim).
        @inline(__always)
        public func performChunk() -> Int {
            while true {
                let word = cursor.pointee.load(ordering: .relaxed)
                let total = Int(word >> 32)
                let next = Int(word & 0xFFFF_FFFF)
                guard next < total else { return 0 }
                let end = min(next + CryptoBatch.claimChunk, total)
                let (exchanged, _) = cursor.pointee.compareExchange(
                    expected: word, desired: (word & ~0xFFFF_FFFF) | end,
                    successOrdering: .acquiring, failureOrdering: .relaxed)
                guard exchanged else { continue }
                for index in next..<end {
                    slot(index).pointee.perform()
                    doneFlag(index).pointee.store(1, ordering: .releasing)
                }
                return end - next
            }
        }

        /// True once job `index` has run (owner only, after ``CryptoBatch/publish()``).
        @inline(__always)
        public func isDone(_ index: Int) -> Bool {
            doneFlag(index).pointee.load(ordering: .acquiring) != 0
        }

        /// Returns once job `index` has run (owner only, after the last ``CryptoBatch/publish()``),
        /// running chunks of unclaimed jobs meanwhile — of this batch, then of `next` (a batch
        /// published after this one), so that with two batches in flight the owner works on the
        /// newer batch instead of spinning while a helper finishes its last chunk here.
        @inline(__always)
        public func waitForJob(_ index: Int, helping next: Shared?) {
            guard !isDone(index) else { return }
            var spins = 0
            while !isDone(index) {
                if performChunk() > 0 { continue }
                if let next, next.performChunk() > 0 { continue }
                spins &+= 1
                if spins > 4096, spins & 63 == 0 { yieldProcessor() }
            }
        }
    }

    /// A batch of at most `capacity` jobs (at least one, at most 65,536).
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity <= 1 << 16, "CryptoBatch capacity must be in 1...65536")
        self.capacity = capacity
        let linePair = CacheLineAtomics.stride
        let doneOffset = (MemoryLayout<TransportCryptoJob>.stride + 7) & ~7
        let slotStride = (doneOffset + MemoryLayout<Atomic<Int>>.stride + linePair - 1) / linePair * linePair
        let slots = UnsafeMutableRawPointer.allocate(byteCount: slotStride * capacity, alignment: linePair)
        words = CacheLineAtomics(count: 1)
        shared = Shared(slots: slots, slotStride: slotStride, doneOffset: doneOffset, cursor: words[0])
        for index in 0..<capacity {
            (slots + index * slotStride + doneOffset).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0))
        }
    }

    /// Owns the cursor's line.
    private let words: CacheLineAtomics
    private var cursor: UnsafeMutablePointer<Atomic<Int>> { shared.cursor }

    deinit {
        reset()
        for index in 0..<capacity { shared.doneFlag(index).deinitialize(count: 1) }
        shared.slots.deallocate()
    }

    @inline(__always)
    private func doneFlag(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> { shared.doneFlag(index) }

    @inline(__always)
    private func slot(_ index: Int) -> UnsafeMutablePointer<TransportCryptoJob> { shared.slot(index) }

    /// True when no more jobs fit until ``reset()``.
    public var isFull: Bool { count == capacity }

    /// Adds a job (owner only, before ``publish()``); returns its index.
    @inline(__always)
    @discardableResult
    public func append(_ job: TransportCryptoJob) -> Int {
        precondition(count < capacity, "CryptoBatch is full")
        slot(count).initialize(to: job)
        count += 1
        return count - 1
    }

    /// The job at `index` (owner only): before ``publish()``, or once ``isDone(_:)`` (after
    /// ``waitForJob(_:)`` or ``waitUntilComplete()``).
    @inline(__always)
    public subscript(index: Int) -> TransportCryptoJob {
        precondition(index >= 0 && index < count)
        return slot(index).pointee
    }

    /// Makes every job appended so far visible to helpers (owner only; may be called again after
    /// more appends). Everything the owner wrote into those packets and slots happens-before any
    /// helper's claim of them.
    public func publish() {
        var word = cursor.pointee.load(ordering: .relaxed)
        while true {
            let desired = count << 32 | (word & 0xFFFF_FFFF)
            let (exchanged, original) = cursor.pointee.compareExchange(
                expected: word, desired: desired, ordering: .sequentiallyConsistent)
            if exchanged { return }
            word = original
        }
    }

    /// True while published jobs remain unclaimed.
    public var hasUnclaimedJobs: Bool { shared.hasUnclaimedJobs }

    /// Claims and runs chunks of published jobs until none is left unclaimed; any thread. Returns
    /// the number of jobs this call ran.
    @discardableResult
    public func performAvailable() -> Int { shared.performAvailable() }

    /// True once job `index` has run (owner only, after ``publish()``); its result may then be read
    /// while helpers still run later jobs.
    public func isDone(_ index: Int) -> Bool { shared.isDone(index) }

    /// Returns once job `index` has run (owner only, after the last ``publish()``), running chunks of
    /// unclaimed jobs meanwhile: the owner completes jobs in order as they finish instead of waiting
    /// for the whole batch, so its in-order work overlaps the helpers' AEAD.
    public func waitForJob(_ index: Int) { shared.waitForJob(index, helping: nil) }

    /// True once every appended job has run; the owner may then read them (owner only).
    public var isComplete: Bool {
        for index in 0..<count where !isDone(index) { return false }
        return true
    }

    /// Helps with the published jobs, then waits (spinning, yielding now and then) for helpers still
    /// running their last chunk. Owner only, after the last ``publish()``.
    public func waitUntilComplete() {
        performAvailable()
        for index in 0..<count { waitForJob(index) }
    }

    /// Runs every appended job on the calling thread, without helpers (owner only).
    public func performAllHere() {
        for index in 0..<count {
            slot(index).pointee.perform()
            doneFlag(index).pointee.store(1, ordering: .relaxed)
        }
        cursor.pointee.store(count << 32 | count, ordering: .relaxed)
    }

    /// Wipes the key copies and empties the batch (owner only, after completion).
    public func reset() {
        for index in 0..<count {
            slot(index).pointee.wipeKey()
            slot(index).deinitialize(count: 1)
            doneFlag(index).pointee.store(0, ordering: .relaxed)
        }
        count = 0
        cursor.pointee.store(0, ordering: .releasing)
    }
}
