import CWireNetShims
#if canImport(Glibc)
import Glibc
#endif

/// A dedicated OS thread for the engine's loop: the loop blocks in the kernel waiting for packets,
/// which must never happen on a Swift concurrency thread.
final class LoopThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private var thread = pthread_t()
    private var joined = false

    /// Starts `body` on a new thread named `name` (at most 15 bytes are kept).
    init(name: String, _ body: @escaping () -> Void) throws(NodeError) {
        let context = Unmanaged.passRetained(Body { wirenet_set_thread_name(name); body() }).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            body.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw NodeError.system(operation: "start the engine thread", errno: result)
        }
    }

    /// Lets the thread release its resources when it finishes, for a thread nobody will join (a
    /// joinable thread that is never joined keeps its stack after it ends: ThreadSanitizer's "thread
    /// leak"). Afterwards `join()` does nothing.
    func detach() {
        guard !joined else { return }
        joined = true
        pthread_detach(thread)
    }

    /// Waits for the thread to finish. Calling it again does nothing.
    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }
}
