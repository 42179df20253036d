import CWireNetShims
import Glibc

/// The portable path: `recvmmsg`/`sendmmsg` on the non-blocking socket, `ppoll` to wait, with
/// the same GSO runs, GRO splitting, buffers and error handling as the io_uring path.
final class PortableBackend {
    /// Messages per `recvmmsg`/`sendmmsg` call.
    private static let messagesPerCall = 64
    private static let iovecCapacity = messagesPerCall * SegmentationPlan.maximumSegments

    private struct Run {
        var start: Int
        var count: Int
        var bytes: Int
    }

    let core: TransportCore
    let waker: UDPTransport.Waker
    /// An epoll set of the socket and the waker, for callers that want one descriptor to wait on.
    let pollDescriptor: CInt
    private let freeBuffers: UnsafeMutablePointer<UInt16>
    private var freeBufferCount: Int
    private let receiveHeaders: UnsafeMutablePointer<wirenet_mmsghdr>
    private let receiveIovecs: UnsafeMutablePointer<iovec>
    private let receiveNames: UnsafeMutablePointer<sockaddr_in6>
    private let receiveControls: UnsafeMutableRawPointer
    private let receiveBufferIDs: UnsafeMutablePointer<UInt16>
    private let sendHeaders: UnsafeMutablePointer<wirenet_mmsghdr>
    private let sendIovecs: UnsafeMutablePointer<iovec>
    private let sendNames: UnsafeMutablePointer<sockaddr_in6>
    private let sendControls: UnsafeMutableRawPointer
    private let sendControlStride: Int
    private let sendRuns: UnsafeMutablePointer<Run>
    private let single: OutboundMessage
    private let pollSet: UnsafeMutablePointer<pollfd>
    private var woken = false
    private var closed = false

    init(core: TransportCore, waker: UDPTransport.Waker) throws(Errno) {
        self.core = core
        self.waker = waker
        pollDescriptor = try SystemCall.require { wirenet_epoll_pair(core.socket.descriptor, waker.descriptor) }

        let bufferCount = core.receiveBuffers.count
        freeBuffers = .allocate(capacity: bufferCount)
        for index in 0 ..< bufferCount { freeBuffers[index] = UInt16(bufferCount - 1 - index) }
        freeBufferCount = bufferCount
        let count = Self.messagesPerCall
        receiveHeaders = .allocate(capacity: count)
        receiveIovecs = .allocate(capacity: count)
        receiveNames = .allocate(capacity: count)
        receiveControls = .allocate(byteCount: count * ReceiveBufferArena.controlReserve, alignment: 16)
        receiveBufferIDs = .allocate(capacity: count)
        sendHeaders = .allocate(capacity: count)
        sendIovecs = .allocate(capacity: Self.iovecCapacity)
        sendNames = .allocate(capacity: count + 1)
        sendControlStride = (wirenet_udp_send_cmsg_space() + 15) & ~15
        sendControls = .allocate(byteCount: (count + 1) * sendControlStride, alignment: 16)
        sendRuns = .allocate(capacity: count)
        single = OutboundMessage(header: .allocate(capacity: 1), iovecs: .allocate(capacity: 1),
                                 name: sendNames + count, control: sendControls + count * sendControlStride,
                                 controlCapacity: sendControlStride)
        pollSet = .allocate(capacity: 2)
    }

    deinit {
        close()
        freeBuffers.deallocate()
        receiveHeaders.deallocate()
        receiveIovecs.deallocate()
        receiveNames.deallocate()
        receiveControls.deallocate()
        receiveBufferIDs.deallocate()
        sendHeaders.deallocate()
        sendIovecs.deallocate()
        sendNames.deallocate()
        sendControls.deallocate()
        sendRuns.deallocate()
        single.header.deallocate()
        single.iovecs.deallocate()
        pollSet.deallocate()
    }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(pollDescriptor)
    }

    // MARK: Receiving

    /// Datagrams or error reports read but not delivered (more than the last batch held), or a
    /// wake-up taken from the waker: ``pollDescriptor`` does not show them.
    var hasPendingInput: Bool { !core.inbound.isEmpty || !core.errorReports.isEmpty || woken }

    func receive(into batch: inout ReceiveBatch, timeout: Duration?) throws(Errno) {
        recycle(&batch)
        try receiveAvailable()
        if timeout == .zero && core.inbound.isEmpty && core.errorReports.isEmpty && !woken {
            // A caller that waits on `pollDescriptor` itself calls with a zero timeout: take a
            // wake-up here, or the level-triggered eventfd keeps the epoll set readable and that
            // caller's every wait returns at once.
            core.statistics.systemCalls += 1
            woken = waker.drain()
        }
        if core.inbound.isEmpty && core.errorReports.isEmpty && !woken && timeout != .zero {
            let deadline = timeout.map { ContinuousClock.now + $0 }
            repeat {
                var remaining: Duration? = nil
                if let deadline {
                    remaining = deadline - ContinuousClock.now
                    if remaining! <= .zero { break }
                }
                try waitReadable(remaining)
                try receiveAvailable()
            } while core.inbound.isEmpty && core.errorReports.isEmpty && !woken
        }
        core.deliver(into: &batch)
        batch.wasWoken = woken
        woken = false
        batch.owner = ObjectIdentifier(core)
    }

    func recycle(_ batch: inout ReceiveBatch) {
        if batch.owner == ObjectIdentifier(core) {
            for buffer in batch.heldBuffers { releaseBuffer(buffer) }
        }
        batch.reset()
        batch.owner = nil
    }

    /// `msg_hdr` is the first member of `struct wirenet_mmsghdr`.
    private static func header(of message: UnsafeMutablePointer<wirenet_mmsghdr>) -> UnsafeMutablePointer<msghdr> {
        UnsafeMutableRawPointer(message).assumingMemoryBound(to: msghdr.self)
    }

    private func releaseBuffer(_ buffer: UInt16) {
        freeBuffers[freeBufferCount] = buffer
        freeBufferCount += 1
    }

    /// Reads what the socket has queued, as long as buffers and queue room last.
    private func receiveAvailable() throws(Errno) {
        while true {
            let count = min(Self.messagesPerCall, freeBufferCount, core.inbound.freeCount)
            guard count > 0 else {
                if freeBufferCount == 0 { core.statistics.receiveBufferExhaustions += 1 }
                return
            }
            for index in 0 ..< count {
                freeBufferCount -= 1
                let buffer = freeBuffers[freeBufferCount]
                receiveBufferIDs[index] = buffer
                receiveIovecs[index] = iovec(iov_base: core.receiveBuffers.payload(buffer),
                                             iov_len: core.receiveBuffers.payloadCapacity)
                var header = msghdr()
                header.msg_name = UnsafeMutableRawPointer(receiveNames + index)
                header.msg_namelen = socklen_t(MemoryLayout<sockaddr_in6>.size)
                header.msg_iov = receiveIovecs + index
                header.msg_iovlen = 1
                header.msg_control = receiveControls + index * ReceiveBufferArena.controlReserve
                header.msg_controllen = ReceiveBufferArena.controlReserve
                receiveHeaders[index] = wirenet_mmsghdr(msg_hdr: header, msg_len: 0)
            }
            core.statistics.systemCalls += 1
            let result: IOResult<CInt>
            do {
                result = try SystemCall.run {
                    wirenet_recvmmsg(core.socket.descriptor, receiveHeaders, UInt32(count), CInt(MSG_DONTWAIT))
                }
            } catch {
                for index in 0 ..< count { releaseBuffer(receiveBufferIDs[index]) }
                if error.isAsynchronousICMPError {
                    // An error an ICMP message left on the socket; the details are on the error queue.
                    core.drainErrorQueue()
                    continue
                }
                if error == .noBufferSpace || error.rawValue == ENOMEM { return }
                throw error
            }
            guard case .done(let received) = result else {
                for index in 0 ..< count { releaseBuffer(receiveBufferIDs[index]) }
                return
            }
            for index in 0 ..< count {
                let buffer = receiveBufferIDs[index]
                guard index < Int(received) else {
                    releaseBuffer(buffer)
                    continue
                }
                var info = wirenet_udp_cmsg_info()
                wirenet_udp_parse_cmsgs(Self.header(of: receiveHeaders + index), &info)
                let header = receiveHeaders[index].msg_hdr
                let accepted = UnsafeRawPointer(receiveNames + index).withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    core.enqueue(buffer: buffer, payload: core.receiveBuffers.payload(buffer),
                                 length: Int(receiveHeaders[index].msg_len), flags: header.msg_flags,
                                 name: $0, nameLength: Int(header.msg_namelen), info: info)
                }
                if !accepted { releaseBuffer(buffer) }
            }
            if Int(received) < count { return }
        }
    }

    private func waitReadable(_ timeout: Duration?) throws(Errno) {
        pollSet[0] = pollfd(fd: core.socket.descriptor, events: Int16(POLLIN), revents: 0)
        pollSet[1] = pollfd(fd: waker.descriptor, events: Int16(POLLIN), revents: 0)
        core.statistics.systemCalls += 1
        _ = try SystemCall.poll(pollSet, count: 2, timeout: timeout)
        if pollSet[1].revents & Int16(POLLIN) != 0 {
            waker.drain()
            woken = true
        }
        if pollSet[0].revents & Int16(POLLERR) != 0 {
            core.drainErrorQueue()
        }
    }

    private func waitWritable() {
        pollSet[0] = pollfd(fd: core.socket.descriptor, events: Int16(POLLOUT), revents: 0)
        _ = try? SystemCall.poll(pollSet, count: 1, timeout: .milliseconds(100))
    }

    // MARK: Sending

    func makeSendBuffer() -> PacketBuffer? { core.sendPool.acquire() }

    func send(_ batch: inout SendBatch) {
        batch.entries.withUnsafeBufferPointer { entries in
            var start = 0
            while start < entries.count {
                var messages = 0
                var iovecsUsed = 0
                while start < entries.count && messages < Self.messagesPerCall {
                    let destination = entries[start].destination
                    let run = SegmentationPlan.run(in: entries, from: start,
                                                   segmentationAllowed: core.segmentationAllowed(for: destination))
                    guard iovecsUsed + run.count <= Self.iovecCapacity else { break }
                    let message = OutboundMessage(
                        header: Self.header(of: sendHeaders + messages),
                        iovecs: sendIovecs + iovecsUsed, name: sendNames + messages,
                        control: sendControls + messages * sendControlStride, controlCapacity: sendControlStride)
                    if core.fill(message, entries: entries, start: start, count: run.count, segmentSize: run.segmentSize) {
                        var bytes = 0
                        for offset in 0 ..< run.count { bytes += Int(entries[start + offset].count) }
                        sendRuns[messages] = Run(start: start, count: run.count, bytes: bytes)
                        sendHeaders[messages].msg_len = 0
                        messages += 1
                        iovecsUsed += run.count
                    } else {
                        core.report(destination, .addressFamilyNotSupported, datagrams: run.count, origin: .send)
                    }
                    start += run.count
                }
                transmit(messages: messages, entries: entries)
            }
            for entry in entries { core.sendPool.release(entry.buffer) }
        }
        batch.entries.removeAll(keepingCapacity: true)
    }

    private func transmit(messages: Int, entries: UnsafeBufferPointer<SendBatch.Entry>) {
        var done = 0
        while done < messages {
            core.statistics.systemCalls += 1
            do {
                switch try SystemCall.run({
                    wirenet_sendmmsg(core.socket.descriptor, sendHeaders + done, UInt32(messages - done), 0)
                }) {
                case .done(let sent):
                    for index in done ..< done + Int(sent) {
                        let run = sendRuns[index]
                        core.accountSent(datagrams: run.count, bytes: run.bytes, segmented: run.count > 1)
                    }
                    done += Int(sent)
                case .wouldBlock:
                    waitWritable()
                }
            } catch {
                // Message `done` failed; the ones before it were sent.
                let run = sendRuns[done]
                if run.count > 1 {
                    let destination = entries[run.start].destination
                    if error.refusesSegmentationOffload {
                        core.refuseSegmentation(for: destination, error: error)
                    } else if error.isAsynchronousICMPError {
                        // Possibly left by an ICMP message for another datagram: report it.
                        core.drainErrorQueue()
                    }
                    for offset in 0 ..< run.count { sendSingle(entries, run.start + offset) }
                } else {
                    let header = Self.header(of: sendHeaders + done)
                    sendOnce(header, to: entries[run.start].destination, bytes: run.bytes, firstError: error)
                }
                done += 1
            }
        }
    }

    private func sendSingle(_ entries: UnsafeBufferPointer<SendBatch.Entry>, _ index: Int) {
        guard core.fill(single, entries: entries, start: index, count: 1, segmentSize: 0) else { return }
        sendOnce(single.header, to: entries[index].destination, bytes: Int(entries[index].count), firstError: nil)
    }

    /// Sends one datagram with `sendmsg`, retrying once after an error an earlier ICMP message
    /// may have left on the socket; reports the final error.
    private func sendOnce(_ header: UnsafeMutablePointer<msghdr>, to destination: UDPEndpoint, bytes: Int,
                          firstError: Errno?) {
        var pending = firstError
        var retried = false
        while true {
            if let error = pending {
                guard error.isAsynchronousICMPError && !retried else {
                    core.report(destination, error, datagrams: 1, origin: .send)
                    return
                }
                core.drainErrorQueue()
                retried = true
            }
            core.statistics.systemCalls += 1
            do {
                switch try SystemCall.run({ sendmsg(core.socket.descriptor, header, 0) }) {
                case .done:
                    core.accountSent(datagrams: 1, bytes: bytes, segmented: false)
                    return
                case .wouldBlock:
                    waitWritable()
                    pending = nil
                }
            } catch {
                pending = error
            }
        }
    }
}
