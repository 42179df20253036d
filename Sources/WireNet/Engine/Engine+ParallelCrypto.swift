import UDPTransport
import WireGuard
import Wire

/// The engine's data path with the AEAD fanned out to ``CryptoWorkers``.
///
/// ```
///  receive batch ─▶ prepareReceive (index, age, replay pre-check) ─▶ CryptoBatch ══ open on every crypto thread
///                   ─▶ completeReceive in arrival order (replay window, timers, allowed IPs) ─▶ backend.deliver
///  backend.nextOutbound ─▶ prepareSend (route, counter, header, padding) ─▶ CryptoBatch ══ seal on every thread
///                   ─▶ send batch in preparation order
/// ```
///
/// Two crypto batches are in flight at a time: the engine fills the next one while the crypto
/// threads seal or open the one before, and takes batches back in the order it launched them.
/// Only the AEAD leaves the engine thread; every protocol decision stays with the one owner of the
/// device. Handshake messages split a receive batch: what came before them is completed first,
/// exactly as the sequential path would have done.
extension Engine {
    /// Owner-side halves of the jobs in flight, in the order they were prepared, one list per batch
    /// of the ``CryptoWorkers`` ring (indexed by its slot; engine thread only).
    final class PendingDatagrams {
        var receives: [[(data: PendingTransportData, bytes: UnsafeMutableRawBufferPointer)]]
        var sends: [[(buffer: PacketBuffer, endpoint: UDPEndpoint)]]

        init(capacity: Int) {
            receives = (0..<2).map { _ in
                var list: [(data: PendingTransportData, bytes: UnsafeMutableRawBufferPointer)] = []
                list.reserveCapacity(capacity)
                return list
            }
            sends = (0..<2).map { _ in
                var list: [(buffer: PacketBuffer, endpoint: UDPEndpoint)] = []
                list.reserveCapacity(capacity)
                return list
            }
        }
    }

    /// Datagrams in: transport data is opened on the crypto threads and delivered in order;
    /// handshake answers go out with the next batch.
    func openAndDeliver(_ batch: inout ReceiveBatch, replies: inout SendBatch, now: NetInstant) {
        for datagram in batch.datagrams {
            let bytes = datagram.bytes
            let source = IPEndpoint(datagram.source)
            switch device.prepareReceive(bytes, length: bytes.count, from: source, now: now) {
            case .open(let job, let data):
                if crypto.batch.isFull { launchReceives(now: now) }
                pending.receives[crypto.fillingSlot].append((data, bytes))
                crypto.submit(job)
            case .finished:
                break
            case .handshake:
                if HandshakeSampling.isSampled(bytes) { handshakeSampling.note(handshakeMessages: 1) }
                completeReceives(now: now)
                let result = device.receive(bytes, length: bytes.count, from: source, now: now)
                if case .reply(let endpoint, let length) = result, var buffer = transport.makeSendBuffer() {
                    if buffer.setDatagram(UnsafeRawBufferPointer(rebasing: bytes[0..<length])) {
                        replies.append(buffer, to: UDPEndpoint(endpoint))
                    } else {
                        transport.releaseSendBuffer(buffer)
                    }
                }
            }
        }
        completeReceives(now: now)
    }

    /// Launches the full batch, then completes the one launched before it (if any) while the crypto
    /// threads open the new one.
    private func launchReceives(now: NetInstant) {
        crypto.launch()
        if crypto.launchedCount == 2 { finishOldestReceives(now: now) }
    }

    /// Launches what is being filled and completes every launched batch, in order.
    private func completeReceives(now: NetInstant) {
        if crypto.batch.count > 0 { crypto.launch() }
        while crypto.launchedCount > 0 { finishOldestReceives(now: now) }
    }

    private func finishOldestReceives(now: NetInstant) {
        let slot = crypto.oldestSlot
        // Each packet is completed and delivered as soon as it is open, while helpers open the next.
        crypto.finishOldest { index, job in
            let (data, bytes) = pending.receives[slot][index]
            if case .packet(let peer, let range) = device.completeReceive(data, opened: job, now: now) {
                backend.deliver(UnsafeMutableRawBufferPointer(rebasing: bytes[range]), from: peer, now: now)
            }
        }
        pending.receives[slot].removeAll(keepingCapacity: true)
    }

    /// Packets out: the backend writes each packet's headers straight into a send buffer, after room
    /// for the WireGuard header, and leaves a TCP payload in its send buffer; the batch is sealed on
    /// the crypto threads — the payload read from where it lies — and queued in order. Every batch has
    /// completed when this returns: the payloads' memory is not reused before (the backend gives no
    /// send-buffer memory back until ``PacketBackend/releaseGatheredPayloads()``, which the caller
    /// runs after this, and between here and there no acknowledgment is processed).
    /// Returns true when the backend may have more.
    func sealOutbound(into batch: inout SendBatch, now: NetInstant) -> Bool {
        let header = 16  // WireGuard transport header (paper §5.4.6)
        var backendHasMore = true
        var payload = GatherList()
        for _ in 0..<Self.outboundBurst {
            guard var buffer = transport.makeSendBuffer() else { break }
            let start = buffer.dataStart - header
            let region = UnsafeMutableRawBufferPointer(rebasing: buffer.storage[start...])
            let packetSpace = UnsafeMutableRawBufferPointer(rebasing: region[header..<(header + mtu)])
            guard let length = backend.nextOutbound(into: packetSpace, gathering: &payload, now: now) else {
                transport.releaseSendBuffer(buffer)
                backendHasMore = false
                break
            }
            switch device.prepareSend(region, packetLength: length, gathering: payload, now: now) {
            case .seal(let job, let endpoint, let datagramLength):
                buffer.dataStart = start
                buffer.dataCount = datagramLength
                if crypto.batch.isFull {
                    crypto.launch()
                    if crypto.launchedCount == 2 { finishOldestSends(into: &batch) }
                }
                pending.sends[crypto.fillingSlot].append((buffer, UDPEndpoint(endpoint)))
                crypto.submit(job)
            case .queued, .dropped:
                transport.releaseSendBuffer(buffer)
            }
        }
        completeSends(into: &batch)
        return backendHasMore
    }

    /// Launches what is being filled and queues every launched batch's datagrams, in order.
    private func completeSends(into batch: inout SendBatch) {
        if crypto.batch.count > 0 { crypto.launch() }
        while crypto.launchedCount > 0 { finishOldestSends(into: &batch) }
    }

    private func finishOldestSends(into batch: inout SendBatch) {
        let slot = crypto.oldestSlot
        crypto.finishOldest { index, _ in
            let (buffer, endpoint) = pending.sends[slot][index]
            batch.append(buffer, to: endpoint)
        }
        pending.sends[slot].removeAll(keepingCapacity: true)
    }
}
