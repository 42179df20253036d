import Glibc

/// One dual-stack UDP socket with batched, offloaded I/O for the WireGuard data plane.
///
/// The transport belongs to one thread, the engine's loop, and is driven poll-style:
///
/// ```swift
/// let transport = try UDPTransport(configuration: .init(port: 51820))
/// var received = ReceiveBatch()
/// var outgoing = SendBatch()
/// while running {
///     try transport.receive(into: &received, timeout: nextDeadline)  // datagrams, errors, wake-ups
///     for datagram in received.datagrams { /* decrypt datagram.bytes in place ... */ }
///     for error in received.errors { /* per-datagram failures: ECONNREFUSED, EMSGSIZE ... */ }
///     while let reply = ..., var buffer = transport.makeSendBuffer() {
///         /* encrypt into buffer */; outgoing.append(buffer, to: peer)
///     }
///     transport.send(&outgoing)                                      // one submission
/// }
/// transport.close()
/// ```
///
/// Other threads hand the loop work and then call ``waker``'s ``Waker/wake()``. An engine that
/// waits on more than the transport can poll ``pollDescriptor`` instead and call `receive` with
/// a zero timeout when it is readable — but only when ``hasPendingInput`` is false: what the
/// transport already holds in user space does not make the descriptor readable.
///
/// Two backends do the I/O (``Backend``): io_uring (multishot `recvmsg` over a provided-buffer
/// ring, batched `sendmsg`) and the portable `recvmmsg`/`sendmmsg` path. Both use UDP GSO to send
/// runs of equal-size datagrams to one destination as one super-datagram and UDP GRO to receive
/// coalesced super-datagrams, split into per-datagram views without copying.
///
/// Failures of single datagrams (`ECONNREFUSED`, `ENETUNREACH`, `EMSGSIZE`, ICMP errors reported
/// through the socket's error queue) are returned in ``ReceiveBatch/errors`` and never stop
/// the transport; only a broken socket or ring makes `receive` throw.
public final class UDPTransport {
    /// Most segments the kernel puts into one GRO super-datagram or accepts in one GSO send
    /// (`UDP_MAX_SEGMENTS`, include/linux/udp.h, 128 since Linux 6.1); a ``ReceiveBatch`` holds at least this many.
    public static let maximumSegmentsPerBuffer = 128
    /// Most ``DatagramError`` reports kept between two `receive` calls; more are counted and dropped.
    public static let errorReportCapacity = 256

    private enum State {
        case ioUring(IOUringBackend)
        case portable(PortableBackend)
        case closed
    }

    private var state: State
    /// The port the socket is bound to (the kernel's choice when the configuration asked for 0).
    public let localPort: UInt16
    /// The backend in use (never `.automatic`).
    public let backend: Backend
    /// Wakes ``receive(into:timeout:)`` from any thread.
    public let waker: Waker
    /// True when sends use UDP GSO (configured, supported, and not refused for every destination).
    public var segmentationOffload: Bool { core?.segmentationEnabled ?? false }
    /// True when the socket has UDP GRO on.
    public let receiveCoalescing: Bool
    /// What the kernel drops before it queues a datagram to the socket (``setInboundFilter(_:)``);
    /// ``InboundFilter/passAll`` until one is set.
    public internal(set) var inboundFilter = InboundFilter.passAll
    private var lastStatistics = Statistics()

    /// Opens the socket and the backend the configuration asks for.
    ///
    /// With ``Backend/automatic``, a failure to set up io_uring (`kernel.io_uring_disabled`,
    /// seccomp, a kernel older than 6.0) selects the portable backend and logs one line.
    public init(configuration: Configuration = Configuration()) throws(Errno) {
        let core = try TransportCore(configuration: configuration)
        let waker = try Waker()
        self.waker = waker
        localPort = core.socket.localPort
        receiveCoalescing = core.socket.coalescesReceives
        switch configuration.backend {
        case .ioUring:
            state = .ioUring(try IOUringBackend(core: core, waker: waker))
            backend = .ioUring
        case .portable:
            state = .portable(try PortableBackend(core: core, waker: waker))
            backend = .portable
        case .automatic:
            do {
                state = .ioUring(try IOUringBackend(core: core, waker: waker))
                backend = .ioUring
            } catch {
                configuration.log("io_uring unavailable (\(error)); using recvmmsg/sendmmsg")
                state = .portable(try PortableBackend(core: core, waker: waker))
                backend = .portable
            }
        }
    }

    deinit { close() }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = max(duration, .zero).components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? Int64.max : seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }

    var core: TransportCore? {
        switch state {
        case .ioUring(let backend): backend.core
        case .portable(let backend): backend.core
        case .closed: nil
        }
    }

    /// Counters since the transport was opened (frozen at their last values after ``close()``).
    public var statistics: Statistics { core?.statistics ?? lastStatistics }

    /// A descriptor that becomes readable when the kernel has something for
    /// ``receive(into:timeout:)``: the io_uring ring (a completion waits), or an epoll set of the
    /// socket and the waker. -1 after ``close()``. Before waiting on it, check
    /// ``hasPendingInput``: what an earlier call already took from the kernel does not make it
    /// readable.
    public var pollDescriptor: CInt {
        switch state {
        case .ioUring(let backend): backend.pollDescriptor
        case .portable(let backend): backend.pollDescriptor
        case .closed: -1
        }
    }

    /// True when ``receive(into:timeout:)`` has something to return, or to do, that
    /// ``pollDescriptor`` does not show, so a caller must call it (with a zero timeout) rather than
    /// wait on the descriptor: datagrams, error reports or a wake-up that an earlier call took from
    /// the kernel — io_uring's ``send(_:)`` and ``makeSendBuffer()`` collect every completion that
    /// is ready, receives and ``watch(_:)`` reports included, and a batch takes at most its capacity
    /// of what arrived — or, with io_uring, a receive that ran out of buffers and is re-armed once
    /// the last batch is back.
    /// Waiting on the descriptor while this is true sleeps until something else arrives.
    public var hasPendingInput: Bool {
        switch state {
        case .ioUring(let backend): backend.hasPendingInput
        case .portable(let backend): backend.hasPendingInput
        case .closed: false
        }
    }

    /// Makes ``receive(into:timeout:)`` wait for `descriptor` (a host socket, an epoll set) as well
    /// as for datagrams, and list it in ``ReceiveBatch/readyDescriptors`` once it is readable — so a
    /// loop with more to wait for still waits in one system call, inside the transport. Call it from
    /// the thread that calls `receive`, and keep `descriptor` open until the transport is closed.
    ///
    /// A descriptor is reported when it becomes readable (its wait queue is woken while it is), not
    /// again for as long as it stays readable: take all it has each time it is reported.
    ///
    /// - Returns: false when the backend cannot (the portable one): then wait on ``pollDescriptor``
    ///   and `descriptor` together, and call `receive` with a zero timeout.
    public func watch(_ descriptor: CInt) -> Bool {
        switch state {
        case .ioUring(let backend):
            backend.watch(descriptor)
            return true
        case .portable, .closed:
            return false
        }
    }

    /// Takes a free send buffer from the pool, or nil when every buffer is queued or in flight
    /// (call ``receive(into:timeout:)`` to collect send completions, then try again).
    public func makeSendBuffer() -> PacketBuffer? {
        switch state {
        case .ioUring(let backend): backend.makeSendBuffer()
        case .portable(let backend): backend.makeSendBuffer()
        case .closed: nil
        }
    }

    /// Returns a send buffer that will not be sent.
    public func releaseSendBuffer(_ buffer: PacketBuffer) {
        core?.sendPool.release(buffer.index)
    }

    /// Sends every datagram of `batch` and empties it: one `io_uring_submit` (io_uring) or as few
    /// `sendmmsg` calls as the batch needs (portable). Failures are reported per datagram through
    /// ``ReceiveBatch/errors``. The portable backend waits while the socket buffer is full.
    public func send(_ batch: inout SendBatch) {
        switch state {
        case .ioUring(let backend): backend.send(&batch)
        case .portable(let backend): backend.send(&batch)
        case .closed:
            batch.entries.removeAll(keepingCapacity: true)
        }
    }

    /// Gives the buffers of the previous batch back, then waits up to `timeout` (nil: no limit,
    /// `.zero`: do not wait) until datagrams arrive, errors are reported or ``waker`` is woken,
    /// and fills `batch` with them. May return an empty batch when the timeout expires.
    ///
    /// - Throws: ``Errno`` only when the transport cannot go on (closed, or the socket or ring failed).
    public func receive(into batch: inout ReceiveBatch, timeout: Duration?) throws(Errno) {
        switch state {
        case .ioUring(let backend): try backend.receive(into: &batch, timeout: timeout)
        case .portable(let backend): try backend.receive(into: &batch, timeout: timeout)
        case .closed: throw Errno(rawValue: EBADF)
        }
    }

    /// Gives the receive buffers of `batch` back now, and empties it (without waiting for more).
    public func recycle(_ batch: inout ReceiveBatch) {
        switch state {
        case .ioUring(let backend): backend.recycle(&batch)
        case .portable(let backend): backend.recycle(&batch)
        case .closed: batch.reset()
        }
    }

    /// Cancels outstanding I/O and releases the ring, every buffer and the socket. Datagram views
    /// and send buffers handed out before are invalid afterwards. Calling it again does nothing.
    /// (The ``waker``'s eventfd lives until the last reference to the waker is gone.)
    public func close() {
        guard let core else { return }
        switch state {
        case .ioUring(let backend): backend.close()
        case .portable(let backend): backend.close()
        case .closed: break
        }
        core.close()
        lastStatistics = core.statistics
        state = .closed
    }
}
