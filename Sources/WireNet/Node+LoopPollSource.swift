extension Node {
    /// Makes the node's loop thread wait on `descriptor` (a host descriptor, e.g. an epoll instance)
    /// together with its UDP socket; whenever a wait finds it readable, `onReadable` runs on the loop
    /// thread, after the packets that wait brought were handled. It stays until the node closes.
    /// With the io_uring transport the descriptor is polled inside the ring, so the loop still waits
    /// in one `io_uring_enter`; it is reported when it becomes readable, so `onReadable` must take
    /// all it has each time (an epoll instance: `epoll_wait` until it returns fewer than asked).
    ///
    /// For forwarders: their host sockets' readiness is handled on the thread where their data goes
    /// (into the tunnel's stack), so a chunk from a host socket costs no other thread's wake-up and
    /// no hand-off to the loop (issue 13). `onReadable` must not block; what it hands the node
    /// (``TCPStream``'s callback methods) runs in the next loop turn, which starts without waiting.
    /// The caller keeps `descriptor` open while the node runs.
    ///
    /// - Throws: ``NodeError/notStarted``, ``NodeError/closed``.
    package func addLoopPollSource(_ descriptor: CInt, onReadable: @escaping @Sendable () -> Void) throws(NodeError) {
        let (engine, _) = try runningEngine()
        guard engine.perform({ $0.addHostPollSource(descriptor, onReadable: onReadable) }) else { throw .closed }
    }
}
