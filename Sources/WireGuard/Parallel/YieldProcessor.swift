#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Gives the core to another runnable thread while waiting for a helper to finish its last chunk.
/// Scheduling only: no clock and no I/O.
@inline(__always)
func yieldProcessor() {
    sched_yield()
}
