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
/// Only the AEAD leaves the engine thread; every protocol decision stays with the one owner of the
/// device. Handshake messages split a receive batch: what came before them is completed first,
/// exactly as the sequential path would have done.
extension Engine {
    /// Owner-side halves of the jobs in flight, in the order they were prepared (engine thread only).
    final class PendingDatagrams {
        var receives: [(data: PendingTransportData, bytes: UnsafeMutableRawBufferPointer)] = []
        var sends: [(buffer: PacketBuffer, endpoint: UDPEndpoint)] = []

        init(capacity: Int) {
            receives.reserveCapacity(capacity)
            sends.reserveCapacity(capacity)
        }
    }

    /// Datagrams in: transport data is opened on the crypto threads and delivered in order;
    /// handshake answers go out with the next batch.
    func openAndDeliver(_ batch: inout ReceiveBatch, replies: inout SendBatch, now: NetInstant) {
        let jobs = crypto.batch
        for datagram in batch.datagrams {
            let bytes = datagram.bytes
            let source = IPEndpoint(datagram.source)
            switch device.prepareReceive(bytes, length: bytes.count, from: source, now: now) {
            case .open(let job, let data):
                if jobs.isFull { completeReceives(now: now) }
                crypto.submit(job)
                pending.receives.append((data, bytes))
            case .finished:
                break
            case .handshake:
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

    private func completeReceives(now: NetInstant) {
        let jobs = crypto.batch
        guard jobs.count > 0 else { return }
        // Each packet is completed and delivered as soon as it is open, while helpers open the next.
        crypto.forEachCompleted { index, job in
            let (data, bytes) = pending.receives[index]
            if case .packet(let peer, let range) = device.completeReceive(data, opened: job, now: now) {
                backend.deliver(UnsafeMutableRawBufferPointer(rebasing: bytes[range]), from: peer, now: now)
            }
        }
        jobs.reset()
        pending.receives.removeAll(keepingCapacity: true)
    }

    /// Packets out: the backend writes each packet straight into a send buffer, after room for the
    /// WireGuard header; the batch is sealed in place on the crypto threads and queued in order.
    /// Returns true when the backend may have more.
    func sealOutbound(into batch: inout SendBatch, now: NetInstant) -> Bool {
        let header = 16  // WireGuard transport header (paper §5.4.6)
        let jobs = crypto.batch
        var backendHasMore = true
        for _ in 0..<Self.outboundBurst {
            guard var buffer = transport.makeSendBuffer() else { break }
            let start = buffer.dataStart - header
            let region = UnsafeMutableRawBufferPointer(rebasing: buffer.storage[start...])
            let packetSpace = UnsafeMutableRawBufferPointer(rebasing: region[header..<(header + mtu)])
            guard let length = backend.nextOutbound(into: packetSpace, now: now) else {
                transport.releaseSendBuffer(buffer)
                backendHasMore = false
                break
            }
            switch device.prepareSend(region, packetLength: length, now: now) {
            case .seal(let job, let endpoint, let datagramLength):
                buffer.dataStart = start
                buffer.dataCount = datagramLength
                if jobs.isFull { completeSends(into: &batch) }
                crypto.submit(job)
                pending.sends.append((buffer, UDPEndpoint(endpoint)))
            case .queued, .dropped:
                transport.releaseSendBuffer(buffer)
            }
        }
        completeSends(into: &batch)
        return backendHasMore
    }

    private func completeSends(into batch: inout SendBatch) {
        let jobs = crypto.batch
        guard jobs.count > 0 else { return }
        crypto.forEachCompleted { index, _ in
            let (buffer, endpoint) = pending.sends[index]
            batch.append(buffer, to: endpoint)
        }
        jobs.reset()
        pending.sends.removeAll(keepingCapacity: true)
    }
}
