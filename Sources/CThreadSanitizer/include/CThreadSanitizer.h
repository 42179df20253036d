#ifndef WIRENET_CTHREADSANITIZER_H
#define WIRENET_CTHREADSANITIZER_H

// ThreadSanitizer annotations for synchronization TSan cannot see (Locking's `Lock`: the Swift
// runtime's `Synchronization.Mutex` hands a contended lock over inside the kernel, FUTEX_LOCK_PI /
// FUTEX_UNLOCK_PI, from an uninstrumented library).
//
// The functions below call the TSan runtime when WIRENET_THREAD_SANITIZER is defined, and are empty
// static inlines otherwise, which the Swift compiler inlines away: no call, no code. Clang defines
// it itself under -fsanitize=thread (__has_feature), but Swift's Clang importer, which compiles
// these inlines for Swift callers, is not given the sanitizer by `swiftc -sanitize=thread`: a
// ThreadSanitizer build passes `-Xcc -DWIRENET_THREAD_SANITIZER` (scripts/sanitizers.sh does), and
// LockingTests fails a TSan build that did not.

#if !defined(WIRENET_THREAD_SANITIZER) && defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define WIRENET_THREAD_SANITIZER 1
#  endif
#endif

#if defined(WIRENET_THREAD_SANITIZER)
// compiler-rt/include/sanitizer/tsan_interface.h: "__tsan_release establishes a happens-before
// relation with a preceding __tsan_acquire on the same address."
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#endif

/// Tells ThreadSanitizer that this thread now holds the lock identified by `address`: everything a
/// thread did before its `wirenet_tsan_release` of the same address happens before what this thread
/// does next.
static inline __attribute__((always_inline)) void wirenet_tsan_acquire(void *address) {
#if defined(WIRENET_THREAD_SANITIZER)
    __tsan_acquire(address);
#else
    (void)address;
#endif
}

/// Tells ThreadSanitizer that this thread is about to release the lock identified by `address`.
static inline __attribute__((always_inline)) void wirenet_tsan_release(void *address) {
#if defined(WIRENET_THREAD_SANITIZER)
    __tsan_release(address);
#else
    (void)address;
#endif
}

/// 1 when the two functions above annotate, as compiled where this header is included (for Swift:
/// by the Clang importer of the Swift module that calls them).
static inline int wirenet_tsan_annotates(void) {
#if defined(WIRENET_THREAD_SANITIZER)
    return 1;
#else
    return 0;
#endif
}

/// 1 when this C target itself was compiled with ThreadSanitizer (by clang, from a .c file, which sees
/// -fsanitize=thread). LockingTests compares it with `wirenet_tsan_annotates()` as Swift sees it: a
/// TSan build without `-Xcc -DWIRENET_THREAD_SANITIZER` would leave every lock unannotated.
int wirenet_tsan_compiled_with_thread_sanitizer(void);

#endif
