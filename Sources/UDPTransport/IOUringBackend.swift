import CWireNetShims
import Glibc

/// The io_uring path.
///
/// ```
/// receive: one multishot IORING_OP_RECVMSG (buffer group 0) ──▶ one CQE per (super-)datagram,
///          payload in a provided buffer ──▶ InboundQueue ──▶ ReceiveBatch (GRO segments as views)
///          buffers come back to the ring when the caller passes the batch to receive() again
/// send:    SendBatch ──▶ SegmentationPlan runs ──▶ one IORING_OP_SENDMSG per run (UDP_SEGMENT cmsg
///          when > 1 datagram) ──▶ one io_uring_submit ──▶ CQE releases the send buffers
/// wake:    an IORING_OP_READ on the waker's eventfd, so a wake-up completes the ring's wait
/// watch:   a multishot IORING_OP_POLL_ADD per watched descriptor (``watch(_:)``), so the caller's
///          other descriptors complete the same wait
/// ```
///
/// Sends of one batch are separate requests: they leave in order unless the socket buffer fills
/// up, when a request waiting for space can be overtaken by a later one (WireGuard's replay
/// window accepts reordering; a full socket buffer means loss is near anyway).
final class IOUringBackend {
    /// `user_data` = tag << 56 | slot.
    private enum Tag: UInt64 {
        case receive = 1, wake = 2, send = 3, cancel = 4, watch = 5
    }

    /// A descriptor the ring's wait also waits for (``watch(_:)``).
    private struct Watch {
        let descriptor: CInt
        /// Its poll request is in the ring (or queued for it).
        var armed = false
        /// A completion reported it readable since the last ``receive(into:timeout:)``.
        var ready = false
        /// Its poll request failed (the descriptor cannot be polled): not re-armed.
        var failed = false
    }

    /// Buffer group id of the receive buffers.
    private static let bufferGroup: UInt16 = 0
    private static let completionBatch = 64

    let core: TransportCore
    let waker: UDPTransport.Waker
    private let ring: OpaquePointer
    private let receiveBufferLength: UInt32
    private let receiveHeader: UnsafeMutablePointer<msghdr>
    private let wakeValue: UnsafeMutablePointer<UInt64>
    private let slots: SendSlots
    private let completions: UnsafeMutablePointer<wirenet_completion>
    /// Slots of a refused super-datagram's datagrams while they are resent.
    private let resendSlots: UnsafeMutablePointer<Int>
    /// Buffers the kernel may fill (in the provided-buffer ring).
    private var buffersInRing: Int
    private var receiveArmed = false
    private var wakeArmed = false
    private var woken = false
    /// Watched descriptors, by slot (the slot is in the poll request's `user_data`).
    private var watches: [Watch] = []
    /// Watches that reported readiness since the last `receive`.
    private var readyWatches = 0
    /// A watch's multishot poll ended and waits to be re-armed.
    private var watchNeedsArming = false
    private var closing = false
    /// Set when the multishot receive failed in a way re-arming cannot fix.
    private var receiveFailure: Errno? = nil

    var pollDescriptor: CInt { wirenet_uring_fd(ring) }

    init(core: TransportCore, waker: UDPTransport.Waker) throws(Errno) {
        if let fault = core.configuration.faults.ioUringSetupError { throw fault }
        self.core = core
        self.waker = waker
        let configuration = core.configuration
        let receiveCount = core.receiveBuffers.count

        // Every receive buffer and every send slot can have a completion outstanding.
        var completionEntries = 1
        while completionEntries < max(2 * (receiveCount + configuration.sendBufferCount) + 64,
                                      2 * configuration.submissionQueueEntries) {
            completionEntries <<= 1
        }
        var error: CInt = 0
        guard let ring = wirenet_uring_open(UInt32(configuration.submissionQueueEntries), UInt32(completionEntries),
                                            UInt32(receiveCount), Self.bufferGroup, &error)
        else { throw Errno(rawValue: error) }
        self.ring = ring
        receiveBufferLength = UInt32(core.receiveBuffers.stride)
        for index in 0 ..< receiveCount {
            wirenet_uring_buffer_add(ring, core.receiveBuffers.base(UInt16(index)), receiveBufferLength,
                                     UInt16(index), CInt(index))
        }
        wirenet_uring_buffers_publish(ring, CInt(receiveCount))
        buffersInRing = receiveCount

        // The multishot recvmsg reads only the name and control lengths of this header: they fix
        // the layout of every provided buffer (see ReceiveBufferArena.headerSize).
        receiveHeader = .allocate(capacity: 1)
        var header = msghdr()
        header.msg_namelen = socklen_t(ReceiveBufferArena.nameReserve)
        header.msg_controllen = ReceiveBufferArena.controlReserve
        receiveHeader.initialize(to: header)
        wakeValue = .allocate(capacity: 1)
        wakeValue.initialize(to: 0)
        slots = SendSlots(count: configuration.sendBufferCount, maximumSegments: SegmentationPlan.maximumSegments)
        completions = .allocate(capacity: Self.completionBatch)
        resendSlots = .allocate(capacity: SegmentationPlan.maximumSegments)

        // Queued, not submitted: a request belongs to the thread that submits it, and the kernel
        // posts its completions from that thread's task work. Submitted here, the multishot
        // receive would complete on the thread that opened the transport (a Swift concurrency
        // thread, woken by the kernel for every arriving batch, or, once it exited, the kernel's
        // fallback worker 1 jiffy later, which cancels the request); the loop thread's first
        // operation submits them instead.
        armReceive()
        armWake()
    }

    deinit {
        close()
        receiveHeader.deallocate()
        wakeValue.deallocate()
        completions.deallocate()
        resendSlots.deallocate()
    }

    // MARK: Submission

    /// Queues a request with `prepare`; submits first when the submission queue is full.
    private func enqueue(_ prepare: () -> CInt) {
        while prepare() == -EBUSY {
            core.statistics.systemCalls += 1
            _ = wirenet_uring_submit(ring)
        }
    }

    private func armReceive() {
        guard !receiveArmed, !closing, receiveFailure == nil, buffersInRing > 0 else { return }
        enqueue {
            wirenet_uring_prep_recvmsg_multishot(ring, core.socket.descriptor, receiveHeader, Self.bufferGroup,
                                                 Tag.receive.rawValue << 56)
        }
        receiveArmed = true
    }

    private func armWake() {
        guard !wakeArmed, !closing else { return }
        enqueue { wirenet_uring_prep_read(ring, waker.descriptor, wakeValue, 8, Tag.wake.rawValue << 56) }
        wakeArmed = true
    }

    private func armWatches() {
        guard watchNeedsArming, !closing else { return }
        watchNeedsArming = false
        for slot in watches.indices where !watches[slot].armed && !watches[slot].failed {
            let descriptor = watches[slot].descriptor
            enqueue {
                wirenet_uring_prep_poll_multishot(ring, descriptor, UInt32(POLLIN), Tag.watch.rawValue << 56 | UInt64(slot))
            }
            watches[slot].armed = true
        }
    }

    private func prepareSend(slot: Int) {
        enqueue {
            wirenet_uring_prep_sendmsg(ring, core.socket.descriptor, slots.header(slot),
                                       Tag.send.rawValue << 56 | UInt64(slot))
        }
    }

    /// True when ``receive(into:timeout:)`` has something to return or to do that
    /// ``pollDescriptor`` does not show: completions an earlier `send` or `makeSendBuffer`
    /// collected (datagrams, error reports, a wake-up), datagrams left over from a full batch,
    /// requests not submitted yet, or a receive that ended for want of buffers and is re-armed
    /// once the caller's batch comes back. The ring's descriptor is readable only while
    /// completions wait in the completion queue; these wait in user space.
    var hasPendingInput: Bool {
        !core.inbound.isEmpty || !core.errorReports.isEmpty || woken || receiveFailure != nil
            || (!receiveArmed && !closing) || wirenet_uring_pending(ring) > 0
            || readyWatches > 0 || (watchNeedsArming && !closing)
    }

    private func submitQueued() {
        guard wirenet_uring_pending(ring) > 0 else { return }
        core.statistics.systemCalls += 1
        _ = wirenet_uring_submit(ring)
    }

    // MARK: Public operations

    /// Makes the ring's wait wait for `descriptor` too: a multishot poll for `POLLIN`, submitted by
    /// the loop thread's next submission. ``receive(into:timeout:)`` returns once it reports the
    /// descriptor readable and lists it in ``ReceiveBatch/readyDescriptors``.
    func watch(_ descriptor: CInt) {
        watches.append(Watch(descriptor: descriptor))
        watchNeedsArming = true
        armWatches()
    }

    func makeSendBuffer() -> PacketBuffer? {
        if core.sendPool.freeCount == 0 { reapCompletions() }
        return core.sendPool.acquire()
    }

    func send(_ batch: inout SendBatch) {
        batch.entries.withUnsafeBufferPointer { entries in
            var start = 0
            while start < entries.count {
                let destination = entries[start].destination
                let run = SegmentationPlan.run(in: entries, from: start,
                                               segmentationAllowed: core.segmentationAllowed(for: destination))
                // One slot per send buffer exists, so a slot is always free.
                guard let slot = slots.acquire() else { preconditionFailure("send slots exhausted") }
                guard core.fill(slots.message(slot), entries: entries, start: start, count: run.count,
                                segmentSize: run.segmentSize)
                else {
                    slots.release(slot)
                    core.report(destination, .addressFamilyNotSupported, datagrams: run.count, origin: .send)
                    for offset in 0 ..< run.count { core.sendPool.release(entries[start + offset].buffer) }
                    start += run.count
                    continue
                }
                var bytes = 0
                let indices = slots.buffers(slot)
                for offset in 0 ..< run.count {
                    indices[offset] = entries[start + offset].buffer
                    bytes += Int(entries[start + offset].count)
                }
                slots.slots[slot] = SendSlots.Slot(datagrams: run.count, segmentSize: run.segmentSize, bytes: bytes,
                                                   destination: destination, source: entries[start].source,
                                                   interfaceIndex: entries[start].interfaceIndex, retried: false)
                prepareSend(slot: slot)
                start += run.count
            }
        }
        batch.entries.removeAll(keepingCapacity: true)
        armReceive()
        armWatches()
        submitQueued()
        // UDP sends usually complete during the submit: release their buffers (and resend
        // refused super-datagrams) right away rather than at the next receive.
        reapCompletions()
        // Reaping may have re-armed the wake-up read or the receive (a wake-up or a finished
        // multishot among the completions): submit them, or a caller that polls
        // `pollDescriptor` next would wait on requests the kernel has not seen.
        armReceive()
        armWatches()
        submitQueued()
    }

    func receive(into batch: inout ReceiveBatch, timeout: Duration?) throws(Errno) {
        recycle(&batch)
        reapCompletions()
        if let receiveFailure { throw receiveFailure }
        if core.inbound.isEmpty && core.errorReports.isEmpty && !woken && readyWatches == 0 && timeout != .zero {
            let deadline = timeout.map { ContinuousClock.now + $0 }
            repeat {
                var remaining: Duration? = nil
                if let deadline {
                    remaining = deadline - ContinuousClock.now
                    if remaining! <= .zero { break }
                }
                try wait(remaining)
                reapCompletions()
            } while core.inbound.isEmpty && core.errorReports.isEmpty && !woken && readyWatches == 0
        }
        armReceive()
        armWatches()
        submitQueued()
        core.deliver(into: &batch)
        batch.wasWoken = woken
        woken = false
        if readyWatches > 0 {
            for slot in watches.indices where watches[slot].ready {
                watches[slot].ready = false
                batch.readyDescriptors.append(watches[slot].descriptor)
            }
            readyWatches = 0
        }
        batch.owner = ObjectIdentifier(core)
    }

    /// Gives the buffers of `batch` back to the provided-buffer ring.
    func recycle(_ batch: inout ReceiveBatch) {
        if batch.owner == ObjectIdentifier(core), !closing {
            let count = batch.heldBuffers.count
            for (offset, buffer) in batch.heldBuffers.enumerated() {
                wirenet_uring_buffer_add(ring, core.receiveBuffers.base(buffer), receiveBufferLength, buffer,
                                         CInt(offset))
            }
            if count > 0 {
                wirenet_uring_buffers_publish(ring, CInt(count))
                buffersInRing += count
            }
        }
        batch.reset()
        batch.owner = nil
    }

    private func recycle(buffer: UInt16) {
        wirenet_uring_buffer_add(ring, core.receiveBuffers.base(buffer), receiveBufferLength, buffer, 0)
        wirenet_uring_buffers_publish(ring, 1)
        buffersInRing += 1
    }

    private func wait(_ timeout: Duration?) throws(Errno) {
        armReceive()
        armWake()
        armWatches()
        core.statistics.systemCalls += 1
        let result = wirenet_uring_submit_and_wait(ring, timeout.map { UDPTransport.nanoseconds($0) } ?? -1)
        if result < 0 && result != -ETIME && result != -EINTR && result != -EAGAIN && result != -EBUSY {
            throw Errno(rawValue: -result)
        }
    }

    // MARK: Completions

    private func reapCompletions() {
        while true {
            let count = Int(wirenet_uring_reap(ring, completions, UInt32(Self.completionBatch)))
            for index in 0 ..< count { handle(completions[index]) }
            if count < Self.completionBatch { return }
        }
    }

    private func handle(_ completion: wirenet_completion) {
        let data = completion.user_data
        switch Tag(rawValue: data >> 56) {
        case .receive: handleReceive(result: completion.result, flags: completion.flags)
        case .wake:
            wakeArmed = false
            woken = true
            armWake()
        case .send: handleSend(slot: Int(data & 0xFFFF_FFFF), result: completion.result)
        case .watch: handleWatch(slot: Int(data & 0xFFFF_FFFF), result: completion.result, flags: completion.flags)
        case .cancel, nil: break
        }
    }

    private func handleWatch(slot: Int, result: CInt, flags: UInt32) {
        guard watches.indices.contains(slot) else { return }
        if flags & wirenet_completion_has_more == 0 {
            // The kernel ended the multishot poll (cancelled, or it could not post a completion).
            watches[slot].armed = false
            watchNeedsArming = true
        }
        if result < 0 {
            let error = Errno(rawValue: -result)
            if error == .canceled || closing { return }
            // The descriptor cannot be polled (closed, say): reported once more, so that its owner
            // looks at it and finds out, and not watched any longer.
            watches[slot].failed = true
        }
        if !watches[slot].ready {
            watches[slot].ready = true
            readyWatches += 1
        }
    }

    private func handleReceive(result: CInt, flags: UInt32) {
        if flags & wirenet_completion_has_more == 0 { receiveArmed = false }
        if result < 0 {
            let error = Errno(rawValue: -result)
            if error == .noBufferSpace {
                core.statistics.receiveBufferExhaustions += 1
            } else if error.isAsynchronousICMPError {
                // ICMP errors left on the socket end up here; their details are on the error queue.
                core.drainErrorQueue()
            } else if ![Errno.canceled, .interrupted, .wouldBlock, Errno(rawValue: ENOMEM)].contains(error) {
                // The socket or the request itself is broken (EBADF, EINVAL, EFAULT, ...): re-arming
                // would fail the same way, so `receive` reports it.
                receiveFailure = error
            }
            return
        }
        guard flags & wirenet_completion_has_buffer != 0 else { return }
        let buffer = UInt16(truncatingIfNeeded: flags >> wirenet_completion_buffer_shift)
        buffersInRing -= 1
        if closing {
            recycle(buffer: buffer)
            return
        }
        var message = wirenet_uring_recvmsg()
        guard wirenet_uring_recvmsg_parse(core.receiveBuffers.base(buffer), result, receiveHeader, &message) == 0,
              let payload = message.payload
        else {
            recycle(buffer: buffer)
            return
        }
        let accepted = core.enqueue(buffer: buffer, payload: UnsafeMutableRawPointer(payload),
                                    length: Int(message.payload_length), flags: CInt(bitPattern: message.flags),
                                    name: message.name, nameLength: Int(message.name_length), info: message.info)
        if !accepted { recycle(buffer: buffer) }
    }

    private func handleSend(slot: Int, result: CInt) {
        let state = slots.slots[slot]
        if result >= 0 || closing {
            if result >= 0 {
                core.accountSent(datagrams: state.datagrams, bytes: state.bytes, segmented: state.datagrams > 1)
            }
            releaseSlot(slot)
            return
        }
        let error = Errno(rawValue: -result)
        if state.datagrams > 1 {
            // The kernel refused the super-datagram: send its datagrams one by one, so each
            // gets its own result, and stop segmenting for this destination if GSO is the cause.
            if error.refusesSegmentationOffload {
                core.refuseSegmentation(for: state.destination, error: error)
            } else if error.isAsynchronousICMPError {
                // Possibly left by an ICMP message for another datagram: report it.
                core.drainErrorQueue()
            }
            for index in 1 ..< state.datagrams {
                guard let single = slots.acquire() else { preconditionFailure("send slots exhausted") }
                slots.copySingle(from: slot, index: index, to: single, core: core)
                resendSlots[index] = single
            }
            slots.copySingle(from: slot, index: 0, to: slot, core: core)
            resendSlots[0] = slot
            // In the original order.
            for index in 0 ..< state.datagrams { prepareSend(slot: resendSlots[index]) }
            submitQueued()
            return
        }
        if error.isAsynchronousICMPError && !state.retried {
            // Possibly an error an ICMP message for another datagram left on the socket: report
            // those from the error queue, then try this datagram once more.
            core.drainErrorQueue()
            slots.slots[slot].retried = true
            prepareSend(slot: slot)
            submitQueued()
            return
        }
        core.report(state.destination, error, datagrams: 1, origin: .send)
        releaseSlot(slot)
    }

    private func releaseSlot(_ slot: Int) {
        let count = slots.slots[slot].datagrams
        let indices = slots.buffers(slot)
        for index in 0 ..< count { core.sendPool.release(indices[index]) }
        slots.release(slot)
    }

    // MARK: Closing

    /// Cancels every request, waits until the kernel no longer references any buffer, then tears
    /// down the ring and the buffer ring.
    func close() {
        guard !closing else { return }
        closing = true
        enqueue { wirenet_uring_prep_cancel_all(ring, Tag.cancel.rawValue << 56) }
        _ = wirenet_uring_submit(ring)
        let deadline = ContinuousClock.now + .seconds(2)
        while (receiveArmed || wakeArmed || slots.inFlight > 0 || watches.contains(where: \.armed))
                && ContinuousClock.now < deadline {
            _ = wirenet_uring_submit_and_wait(ring, 50_000_000)
            reapCompletions()
        }
        core.inbound.removeAll { _ in }
        wirenet_uring_close(ring)
    }
}
