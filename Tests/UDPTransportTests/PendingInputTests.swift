import Glibc
import Testing
@testable import UDPTransport

/// A loop that waits on more than the transport polls ``UDPTransport/pollDescriptor`` and then
/// receives with a zero timeout. The descriptor shows only what the kernel still holds; what the
/// transport already took from it must show in ``UDPTransport/hasPendingInput``, or such a loop
/// sleeps with datagrams in hand until something unrelated wakes it.
extension UDPTransportTests {
    /// How such a loop decides between collecting now and sleeping.
    static func readyWithoutWaiting(_ transport: UDPTransport) -> Bool {
        if transport.hasPendingInput { return true }
        var descriptor = pollfd(fd: transport.pollDescriptor, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 1
    }

    /// io_uring's `send` collects every completion that is ready, a datagram's too, and the ring's
    /// descriptor is no longer readable afterwards.
    @Test(arguments: Fixture.backends)
    func aDatagramCollectedBySendIsPendingInput(backend: UDPTransport.Backend) throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { transport.close() }
        var batch = ReceiveBatch()
        defer { transport.recycle(&batch) }
        try transport.receive(into: &batch, timeout: .zero)  // arms everything
        let plain = PlainSocket()
        var empty = SendBatch(capacity: 1)
        for round in 0 ..< 3 {
            plain.send([UInt8(round)], to: transport.localPort)
            var descriptor = pollfd(fd: transport.pollDescriptor, events: Int16(POLLIN), revents: 0)
            #expect(poll(&descriptor, 1, 2000) == 1, "round \(round): the datagram arrived")
            transport.send(&empty)
            #expect(Self.readyWithoutWaiting(transport), "round \(round)")
            try transport.receive(into: &batch, timeout: .zero)
            #expect(batch.datagrams.map { Array(UnsafeRawBufferPointer($0.bytes)) } == [[UInt8(round)]], "round \(round)")
            #expect(!transport.hasPendingInput, "round \(round): nothing left")
        }
    }

    /// A batch takes at most its capacity. With GRO, the rest of what arrived waits in the
    /// transport's queue; without, io_uring's receive runs out of buffers (the batch holds them)
    /// and ends, and the rest waits in the socket until the batch comes back and the receive is
    /// re-armed. Neither makes the descriptor readable.
    @Test(arguments: Fixture.backends, [true, false])
    func whatABatchCouldNotTakeIsPendingInput(backend: UDPTransport.Backend, gro: Bool) throws {
        let sender = try UDPTransport(configuration: Fixture.configuration(backend))
        let receiver = try UDPTransport(configuration: Fixture.configuration(backend, gro: gro))
        defer { sender.close(); receiver.close() }
        var batch = ReceiveBatch(capacity: 1)  // the smallest: maximumSegmentsPerBuffer
        defer { receiver.recycle(&batch) }
        try receiver.receive(into: &batch, timeout: .zero)  // arms everything
        // More than a batch and (without GRO) more than the 64 receive buffers; with GSO and GRO
        // super-datagrams of up to 64, so more than a batch's worth is in the queue at once.
        let payloads = (0 ..< 200).map { Fixture.payload($0, size: 1000) }
        Fixture.send(payloads, from: sender, to: .loopbackIPv4(port: receiver.localPort))
        usleep(100_000)  // everything is in the socket or the completion queue
        var received: [[UInt8]] = []
        var turns = 0
        while received.count < payloads.count && turns < 20 && Self.readyWithoutWaiting(receiver) {
            try receiver.receive(into: &batch, timeout: .zero)
            received += batch.datagrams.map { Array(UnsafeRawBufferPointer($0.bytes)) }
            turns += 1
        }
        #expect(Fixture.mismatch(received, payloads) == nil, "after \(turns) turns")
    }

    /// The portable backend's descriptor is an epoll set of the socket and the level-triggered
    /// eventfd: a zero-timeout receive must take the wake-up, or every later wait of a loop that
    /// polls the descriptor returns at once (a spinning loop).
    @Test(arguments: Fixture.backends)
    func aZeroTimeoutReceiveTakesTheWakeUp(backend: UDPTransport.Backend) throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { transport.close() }
        var batch = ReceiveBatch()
        defer { transport.recycle(&batch) }
        try transport.receive(into: &batch, timeout: .zero)  // arms everything
        for round in 0 ..< 3 {
            transport.waker.wake()
            var descriptor = pollfd(fd: transport.pollDescriptor, events: Int16(POLLIN), revents: 0)
            #expect(poll(&descriptor, 1, 2000) == 1, "round \(round)")
            try transport.receive(into: &batch, timeout: .zero)
            #expect(batch.wasWoken, "round \(round)")
            #expect(!Self.readyWithoutWaiting(transport), "round \(round): still ready after the wake-up was taken")
        }
    }
}
