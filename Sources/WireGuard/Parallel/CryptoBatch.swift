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
/// their jobs in place, and adds the number it finished to a completion counter. Once that counter
/// reaches the count the owner reads the jobs back **in the order it appended them**, so each peer's
/// packets leave (and reach the stack) in order, as wireguard-go's per-peer in-order queues ensure.
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

    /// Slot `i` lives at `slots + i * slotStride`; the stride is a multiple of the cache line so
    /// threads finishing neighbouring jobs do not write the same line.
    private let slots: UnsafeMutableRawPointer
    private let slotStride: Int
    /// Line 0 — the cursor: high 32 bits jobs published, low 32 bits the next unclaimed slot (one
    /// word, so a claim always sees the count of the batch it claims from). Line 1 — jobs of the
    /// current batch already run. Each on a line of its own, away from `count`, which the owner
    /// writes for every job.
    private let words = CacheLineAtomics(count: 2)
    private var cursor: UnsafeMutablePointer<Atomic<Int>> { words[0] }
    private var completed: UnsafeMutablePointer<Atomic<Int>> { words[1] }
    /// Jobs appended since the last reset (owner only).
    @exclusivity(unchecked) public private(set) var count = 0

    /// A batch of at most `capacity` jobs (at least one, at most 65,536).
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity <= 1 << 16, "CryptoBatch capacity must be in 1...65536")
        self.capacity = capacity
        let cacheLine = 64
        slotStride = (MemoryLayout<TransportCryptoJob>.stride + cacheLine - 1) / cacheLine * cacheLine
        slots = UnsafeMutableRawPointer.allocate(byteCount: slotStride * capacity, alignment: cacheLine)
    }

    deinit {
        reset()
        slots.deallocate()
    }

    @inline(__always)
    private func slot(_ index: Int) -> UnsafeMutablePointer<TransportCryptoJob> {
        (slots + index * slotStride).assumingMemoryBound(to: TransportCryptoJob.self)
    }

    /// True when no more jobs fit until ``reset()``.
    public var isFull: Bool { count == capacity }

    /// Adds a job (owner only, before ``publish()``); returns its index.
    @inline(__always)
    @discardableResult
    public func append(_ job: TransportCryptoJob) -> Int {
        precondition(count < capacity, "CryptoBatch is full")
        (slots + count * slotStride).initializeMemory(as: TransportCryptoJob.self, repeating: job, count: 1)
        count += 1
        return count - 1
    }

    /// The job at `index` (owner only): before ``publish()``, or after ``waitUntilComplete()``.
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

    /// True while published jobs remain unclaimed (a cheap check for helpers deciding to sleep).
    @inline(__always)
    public var hasUnclaimedJobs: Bool {
        // Sequentially consistent: a helper announcing its sleep and the owner publishing must not
        // both miss each other (a plain load on x86-64).
        let word = cursor.pointee.load(ordering: .sequentiallyConsistent)
        return word & 0xFFFF_FFFF < word >> 32
    }

    /// Claims and runs chunks of published jobs until none is left unclaimed; any thread. Returns
    /// the number of jobs this call ran.
    @discardableResult
    public func performAvailable() -> Int {
        var ran = 0
        while true {
            let word = cursor.pointee.load(ordering: .relaxed)
            let total = Int(word >> 32)
            let next = Int(word & 0xFFFF_FFFF)
            guard next < total else { return ran }
            let end = min(next + Self.claimChunk, total)
            let (exchanged, _) = cursor.pointee.compareExchange(
                expected: word, desired: (word & ~0xFFFF_FFFF) | end,
                successOrdering: .acquiring, failureOrdering: .relaxed)
            guard exchanged else { continue }
            for index in next..<end { slot(index).pointee.perform() }
            completed.pointee.add(end - next, ordering: .releasing)
            ran += end - next
        }
    }

    /// True once every published job has run; the owner may then read them.
    @inline(__always)
    public var isComplete: Bool {
        completed.pointee.load(ordering: .acquiring) == count
    }

    /// Helps with the published jobs, then waits (spinning, yielding now and then) for helpers still
    /// running their last chunk. Owner only.
    public func waitUntilComplete() {
        performAvailable()
        var spins = 0
        while !isComplete {
            spins &+= 1
            if spins > 4096, spins & 63 == 0 { yieldProcessor() }
        }
    }

    /// Runs every appended job on the calling thread, without helpers (owner only).
    public func performAllHere() {
        for index in 0..<count { slot(index).pointee.perform() }
        completed.pointee.store(count, ordering: .relaxed)
        cursor.pointee.store(count << 32 | count, ordering: .relaxed)
    }

    /// Wipes the key copies and empties the batch (owner only, after completion).
    public func reset() {
        for index in 0..<count {
            slot(index).pointee.wipeKey()
            slot(index).deinitialize(count: 1)
        }
        count = 0
        completed.pointee.store(0, ordering: .relaxed)
        cursor.pointee.store(0, ordering: .releasing)
    }
}
