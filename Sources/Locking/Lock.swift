import CThreadSanitizer
import Synchronization

/// A mutual-exclusion lock around a value: `Synchronization.Mutex`, with its hand-over made visible to
/// ThreadSanitizer. Every lock of WireNet's code is one of these.
///
/// On Linux, `Mutex` takes and releases an uncontended lock with an atomic compare-exchange (which
/// TSan sees), but hands a contended one over in the kernel (`FUTEX_LOCK_PI`/`FUTEX_UNLOCK_PI`, called
/// from the uninstrumented Swift runtime). TSan then sees no acquire/release between two threads that
/// each held the lock in turn and reports their accesses to the guarded value as a data race.
/// ``withLock(_:)`` tells TSan about the hand-over (`__tsan_acquire` once the lock is held,
/// `__tsan_release` before it is given up, both on the lock's address), so a report on
/// code inside a lock is a real race again, and no suppression names closures over a lock.
///
/// The annotations are compiled in only with `-Xcc -DWIRENET_THREAD_SANITIZER` next to
/// `--sanitize=thread` (`scripts/sanitizers.sh thread` passes both; Swift does not tell C code it
/// is built with TSan). Otherwise they are empty inline C functions and the optimised code is
/// `Mutex.withLock`'s (`scripts/lock-check.sh` checks; `Docs/reliability.md`, Sanitizers).
public struct Lock<Value: ~Copyable>: ~Copyable {
    @usableFromInline
    let mutex: Mutex<Value>

    /// A lock guarding `initialValue`.
    @inlinable
    public init(_ initialValue: consuming sending Value) {
        mutex = Mutex(initialValue)
    }

    /// Runs `body` with exclusive access to the guarded value, as `Mutex.withLock` does.
    ///
    /// - Parameter body: runs while the lock is held; it must not take the same lock again.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws, after releasing the lock.
    @inlinable
    public borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        // The lock's own address names it for TSan (a Lock is not copyable and does not move while
        // borrowed). Taken from the borrowed mutex, not from the guarded value: an `inout` access to the
        // value before `wirenet_tsan_acquire` would itself be reported as a race.
        let address = withUnsafePointer(to: mutex) { UnsafeMutableRawPointer(mutating: $0) }
        return try mutex.withLock { (value: inout sending Value) throws(E) -> sending Result in
            wirenet_tsan_acquire(address)
            defer { wirenet_tsan_release(address) }
            return try body(&value)
        }
    }
}

extension Lock: Sendable where Value: ~Copyable {}

/// Whether the locks of this build annotate their hand-over for ThreadSanitizer, as the Swift side
/// compiled them: true in a `--sanitize=thread` build with `-Xcc -DWIRENET_THREAD_SANITIZER`.
public var lockAnnotationsEnabled: Bool { wirenet_tsan_annotates() != 0 }

/// Whether the C side of the annotations (compiled by clang) was built with ThreadSanitizer. A
/// `--sanitize=thread` build where this is true and ``lockAnnotationsEnabled`` false would leave
/// every lock unannotated (LockingTests checks they agree).
public var lockAnnotationsCompiledWithThreadSanitizer: Bool { wirenet_tsan_compiled_with_thread_sanitizer() != 0 }
