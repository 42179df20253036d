import Wire

extension WireGuardDevice {
    /// Encrypts one outgoing IP packet in place.
    ///
    /// The packet is `buffer[16..<16 + packetLength]`, except for the bytes that `payload` says lie
    /// elsewhere (offsets in the packet, after its IP header): those are encrypted straight from there
    /// into `buffer` (``GatherSeal``), and must stay valid and unchanged until the call returns.
    /// `buffer` must have at least ``sendTailroom`` bytes after the packet. The peer is chosen by the
    /// destination address (longest allowed-IPs match). Without a usable session the packet is copied
    /// (made whole) to the peer's bounded staged queue, a handshake is started, and the result is
    /// `.queued`.
    public func send(
        _ buffer: UnsafeMutableRawBufferPointer, packetLength: Int, gathering payload: GatherList = GatherList(),
        now: NetInstant
    ) -> SendResult {
        finish(prepareSend(buffer, packetLength: packetLength, gathering: payload, now: now))
    }

    /// Everything ``send(_:packetLength:gathering:now:)`` does except the encryption itself: routes
    /// the packet, assigns its counter, writes the header and padding, runs the send-side timers, and
    /// returns the AEAD as a ``TransportCryptoJob`` that any thread may run. Jobs of one peer must be
    /// transmitted in the order they were prepared (their counters increase in that order). The runs
    /// of `payload` must stay valid and unchanged until the job has run.
    public func prepareSend(
        _ buffer: UnsafeMutableRawBufferPointer, packetLength: Int, gathering payload: GatherList = GatherList(),
        now: NetInstant
    ) -> SendPreparation {
        let start = TransportDataLayout.headerSize
        guard packetLength > 0, start + packetLength <= buffer.count,
              packetLength <= ProtocolConstants.maxMessageSize - TransportDataLayout.minimumSize,
              payload.end <= packetLength
        else {
            count(.invalidOutgoingPacket, peer: nil)
            return .dropped(.invalidOutgoingPacket)
        }
        // The IP header (read here for routing) must be in `buffer`, not in a gathered run.
        let inBuffer = payload.isEmpty ? packetLength : payload[0].offset
        let packet = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + packetLength)])
        let peer: Peer?
        switch packet[0] >> 4 {
        case 4 where packetLength >= 20 && inBuffer >= 20:
            peer = routes.lookup(IPv4Address(rawValue: UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: 16, as: UInt32.self))))
        case 6 where packetLength >= 40 && inBuffer >= 40:
            peer = routes.lookup(IPv6Address(
                high: UInt64(bigEndian: packet.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
                low: UInt64(bigEndian: packet.loadUnaligned(fromByteOffset: 32, as: UInt64.self))))
        default:
            count(.invalidOutgoingPacket, peer: nil)
            return .dropped(.invalidOutgoingPacket)
        }
        guard let peer else {
            count(.noRoute, peer: nil)
            return .dropped(.noRoute)
        }
        return prepareSend(buffer, packetLength: packetLength, gathering: payload, to: peer, now: now)
    }

    /// Encrypts one packet for a given peer (no allowed-IPs routing), as ``send(_:packetLength:gathering:now:)``.
    public func send(
        _ buffer: UnsafeMutableRawBufferPointer, packetLength: Int, to key: PublicKey, now: NetInstant
    ) -> SendResult {
        let start = TransportDataLayout.headerSize
        guard let peer = peers[key] else {
            count(.noRoute, peer: nil)
            return .dropped(.noRoute)
        }
        guard packetLength > 0, start + packetLength <= buffer.count else {
            count(.invalidOutgoingPacket, peer: peer)
            return .dropped(.invalidOutgoingPacket)
        }
        return finish(prepareSend(buffer, packetLength: packetLength, to: peer, now: now))
    }

    /// Runs a prepared job on the calling thread.
    @inline(__always)
    private func finish(_ preparation: SendPreparation) -> SendResult {
        switch preparation {
        case .seal(var job, let endpoint, let length):
            job.perform()
            job.wipeKey()
            return .datagram(to: endpoint, length: length)
        case .queued: return .queued
        case .dropped(let reason): return .dropped(reason)
        }
    }

    private func prepareSend(
        _ buffer: UnsafeMutableRawBufferPointer, packetLength: Int, gathering payload: GatherList = GatherList(),
        to peer: Peer, now: NetInstant
    ) -> SendPreparation {
        guard let endpoint = peer.endpoint else {
            count(.noEndpoint, peer: peer)
            return .dropped(.noEndpoint)
        }
        // Send directly only when nothing older is waiting, so a peer's packets stay in order.
        if peer.staged.isEmpty, let keypair = peer.keypairs.current, keypair.canSend(at: now) {
            guard let (job, length) = frame(buffer, payloadLength: packetLength, gathering: payload, keypair: keypair) else {
                count(.bufferTooSmall, peer: peer)
                return .dropped(.bufferTooSmall)
            }
            didSend(peer, keypair: keypair, length: length, isData: true, now: now)
            return .seal(job, to: endpoint, length: length)
        }
        let start = TransportDataLayout.headerSize
        // A staged packet outlives the runs: make it whole in `buffer` first.
        payload.copy(into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
        if peer.staged.append(UnsafeRawBufferPointer(rebasing: buffer[start..<(start + packetLength)])) {
            count(.stagedQueueFull, peer: peer)
        }
        requestInitiation(peer, isRetry: false, now: now)
        markReady(peer)
        return .queued
    }

    /// Bytes of plaintext after padding `length` to a multiple of 16, never beyond the MTU
    /// (paper §5.4.6; wireguard-go `calculatePaddingSize`).
    @inline(__always)
    func paddedLength(_ length: Int) -> Int {
        let padded = (length + ProtocolConstants.paddingMultiple - 1) & ~(ProtocolConstants.paddingMultiple - 1)
        if length <= mtu, padded > mtu { return mtu }
        return padded
    }

    /// Pads, encrypts and frames `buffer[16..<16 + payloadLength]` in place; returns the datagram
    /// length, or nil when `buffer` is too small.
    @inline(__always)
    func seal(_ buffer: UnsafeMutableRawBufferPointer, payloadLength: Int, keypair: Keypair) -> Int? {
        guard let (prepared, length) = frame(buffer, payloadLength: payloadLength, keypair: keypair) else { return nil }
        var job = prepared
        job.perform()
        job.wipeKey()
        return length
    }

    /// Pads and frames `buffer[16..<16 + payloadLength]` (the bytes of `plaintext`'s runs read from
    /// there when it is sealed) and takes the next counter; returns the encryption still to run and the
    /// datagram length, or nil when `buffer` is too small.
    @inline(__always)
    func frame(
        _ buffer: UnsafeMutableRawBufferPointer, payloadLength: Int, gathering plaintext: GatherList = GatherList(),
        keypair: Keypair
    ) -> (TransportCryptoJob, Int)? {
        let start = TransportDataLayout.headerSize
        let padded = paddedLength(payloadLength)
        let total = start + padded + ChaCha20Poly1305.tagSize
        guard total <= buffer.count else { return nil }
        let base = buffer.baseAddress!
        if padded > payloadLength {
            (base + start + payloadLength).initializeMemory(as: UInt8.self, repeating: 0, count: padded - payloadLength)
        }
        let counter = keypair.sendCounter
        keypair.sendCounter = counter &+ 1
        buffer.storeLittleEndian(MessageType.transportData.rawValue, at: 0)
        buffer.storeLittleEndian(keypair.remoteIndex, at: TransportDataLayout.receiver)
        buffer.storeLittleEndian(counter, at: TransportDataLayout.counter)
        let job = TransportCryptoJob(
            operation: .seal, text: base + start, length: padded, counter: counter, key: keypair.sendKey, plaintext: plaintext)
        return (job, total)
    }

    /// Timers and rekeying after a transport message went out (wireguard-go `RoutineSequentialSender`,
    /// `keepKeyFreshSending`).
    @inline(__always)
    func didSend(_ peer: Peer, keypair: Keypair, length: Int, isData: Bool, now: NetInstant) {
        peer.sentBytes &+= UInt64(length)
        peer.sentPackets &+= 1
        timersAnyAuthenticatedPacketTraversal(peer, now: now)
        timersAnyAuthenticatedPacketSent(peer)
        if isData { timersDataSent(peer, now: now) }
        // Paper §6.2: the initiator rekeys after Rekey-After-Messages or Rekey-After-Time.
        if keypair.isInitiator,
           keypair.sendCounter > ProtocolConstants.rekeyAfterMessages
            || now > keypair.rekeyAt {
            requestInitiation(peer, isRetry: false, now: now)
        }
    }

    /// Paper §6.2: an initiator whose session is about to be rejected by the peer rekeys once when
    /// it receives data (wireguard-go `keepKeyFreshReceiving`).
    @inline(__always)
    func keepKeyFreshReceiving(_ peer: Peer, now: NetInstant) {
        guard !peer.timers.sentLastMinuteHandshake, let current = peer.keypairs.current, current.isInitiator,
              now.since(current.created) > ProtocolConstants.rekeyOnReceiveAge
        else { return }
        peer.timers.sentLastMinuteHandshake = true
        requestInitiation(peer, isRetry: false, now: now)
    }

    /// Asks for an initiation at the next poll, at most once per `Rekey-Timeout`
    /// (paper §6.4; wireguard-go `SendHandshakeInitiation`).
    func requestInitiation(_ peer: Peer, isRetry: Bool, now: NetInstant) {
        if !isRetry { peer.timers.handshakeAttempts = 0 }
        if let last = peer.handshake.lastSentInitiation, now.since(last) < ProtocolConstants.rekeyTimeout { return }
        peer.wantsInitiation = true
        markReady(peer)
    }

    @inline(__always)
    func markReady(_ peer: Peer) {
        guard !peer.isReady else { return }
        peer.isReady = true
        readyPeers.append(peer)
    }
}
