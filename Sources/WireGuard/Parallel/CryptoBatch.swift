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
    /// High 32 bits: jobs published; low 32 bits: the next unclaimed slot. One word, so a claim
    /// always sees the count of the batch it claims from.
    private let cursor = Atomic<UInt64>(0)
    /// Jobs of the current batch already run.
    private let completed = Atomic<Int>(0)
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
        var word = cursor.load(ordering: .relaxed)
        while true {
            let desired = UInt64(count) << 32 | (word & 0xFFFF_FFFF)
            let (exchanged, original) = cursor.compareExchange(
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
        let word = cursor.load(ordering: .sequentiallyConsistent)
        return word & 0xFFFF_FFFF < word >> 32
    }

    /// Claims and runs chunks of published jobs until none is left unclaimed; any thread. Returns
    /// the number of jobs this call ran.
    @discardableResult
    public func performAvailable() -> Int {
        var ran = 0
        while true {
            let word = cursor.load(ordering: .relaxed)
            let total = Int(word >> 32)
            let next = Int(word & 0xFFFF_FFFF)
            guard next < total else { return ran }
            let end = min(next + Self.claimChunk, total)
            let (exchanged, _) = cursor.compareExchange(
                expected: word, desired: (word & ~0xFFFF_FFFF) | UInt64(end),
                successOrdering: .acquiring, failureOrdering: .relaxed)
            guard exchanged else { continue }
            for index in next..<end { slot(index).pointee.perform() }
            completed.add(end - next, ordering: .releasing)
            ran += end - next
        }
    }

    /// True once every published job has run; the owner may then read them.
    @inline(__always)
    public var isComplete: Bool {
        completed.load(ordering: .acquiring) == count
    }

    /// Helps with the published jobs, then waits (spinning, yielding now and then) for helpers still
    /// running their last chunk. Owner only.
    public func waitUntilComplete() {
        performAvailable()
        var spins = 0
        while !isComplete {
            spins &+= 1
            if spins & 63 == 0 { yieldProcessor() }
        }
    }

    /// Runs every appended job on the calling thread, without helpers (owner only).
    public func performAllHere() {
        for index in 0..<count { slot(index).pointee.perform() }
        completed.store(count, ordering: .relaxed)
        cursor.store(UInt64(count) << 32 | UInt64(count), ordering: .relaxed)
    }

    /// Wipes the key copies and empties the batch (owner only, after completion).
    public func reset() {
        for index in 0..<count {
            slot(index).pointee.wipeKey()
            slot(index).deinitialize(count: 1)
        }
        count = 0
        completed.store(0, ordering: .relaxed)
        cursor.store(0, ordering: .releasing)
    }
}
