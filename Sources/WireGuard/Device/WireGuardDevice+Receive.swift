import Wire

extension WireGuardDevice {
    /// Handles one received UDP datagram held in `buffer[0..<length]`.
    ///
    /// Transport data is decrypted in place; handshake replies are written over the datagram (so
    /// `buffer` needs room for 92 bytes, which any datagram buffer has). Every malformed or hostile
    /// datagram is dropped and counted; nothing here traps or allocates on attacker input.
    public func receive(
        _ buffer: UnsafeMutableRawBufferPointer, length: Int, from source: IPEndpoint, now: NetInstant
    ) -> ReceiveResult {
        guard length >= 4, length <= buffer.count, length <= ProtocolConstants.maxMessageSize else {
            return drop(.invalidLength)
        }
        let message = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
        switch message.littleEndianUInt32(at: 0) {
        case MessageType.transportData.rawValue:
            guard length >= TransportDataLayout.minimumSize else { return drop(.invalidLength) }
            return receiveTransportData(buffer, length: length, from: source, now: now)
        case MessageType.handshakeInitiation.rawValue:
            guard length == HandshakeInitiationLayout.size else { return drop(.invalidLength) }
            return receiveInitiation(buffer, from: source, now: now)
        case MessageType.handshakeResponse.rawValue:
            guard length == HandshakeResponseLayout.size else { return drop(.invalidLength) }
            return receiveResponse(buffer, from: source, now: now)
        case MessageType.cookieReply.rawValue:
            guard length == CookieReplyLayout.size else { return drop(.invalidLength) }
            return receiveCookieReply(message, now: now)
        default:
            return drop(.unknownMessageType)
        }
    }

    // MARK: - Handshake messages

    /// MAC1 always; under load MAC2 too, answering a missing or stale one with a cookie reply
    /// written into `buffer` (paper §5.4.7). Returns nil when the message may be processed.
    ///
    /// Under load, what one message may cost is bounded before any of it is spent: the device-wide
    /// ``handshakeMessagesPerSecondUnderLoad`` before mac1 (the rest cost only the type and length
    /// check), then per source the cookie replies (each a BLAKE2s, an XChaCha20-Poly1305 seal, a
    /// random nonce and a datagram out) and, after a valid mac2, the Diffie-Hellman work.
    private func checkMACs(
        _ buffer: UnsafeMutableRawBufferPointer, length: Int, senderIndex: UInt32, from source: IPEndpoint,
        now: NetInstant
    ) -> ReceiveResult? {
        let message = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
        if isUnderLoad(now: now), !handshakeBudget.take(now: now, perSecond: handshakeMessagesPerSecondUnderLoad) {
            return drop(.handshakeBudgetExceeded)
        }
        guard cookieChecker.checkMAC1(message) else { return drop(.invalidMAC1) }
        guard noteHandshakeMessage(now: now) else { return nil }
        if cookieChecker.checkMAC2(message, source: source, now: now) {
            // mac2 proves the source address; now bound the work each source may cause (wireguard-go
            // `RoutineHandshake`: `rate.limiter.Allow` after `CheckMAC2`).
            return rateLimiter.allow(source.address, now: now) ? nil : drop(.rateLimited)
        }
        // An implementation choice: wireguard-go and the kernel answer every such message; a source
        // gets its cookie replies at the handshake rate (20/s, burst 5) here, so a flood from one
        // address costs one reply per 50 ms, and a peer at another address still gets its own.
        guard cookieReplyLimiter.allow(source.address, now: now) else { return drop(.cookieReplyRateLimited) }
        // The reply needs the message's mac1 as additional data: build it aside, then copy it over.
        var reply = (Key32(), Key32())
        withUnsafeMutableBytes(of: &reply) { replyBytes in
            cookieChecker.writeReply(to: message, receiverIndex: senderIndex, source: source, now: now, into: replyBytes)
            buffer.copyMemory(from: UnsafeRawBufferPointer(replyBytes))
        }
        count(.cookieRequired, peer: nil)
        return .reply(to: source, length: CookieReplyLayout.size)
    }

    private func receiveInitiation(
        _ buffer: UnsafeMutableRawBufferPointer, from source: IPEndpoint, now: NetInstant
    ) -> ReceiveResult {
        let length = HandshakeInitiationLayout.size
        let message = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
        let senderIndex = message.littleEndianUInt32(at: HandshakeInitiationLayout.sender)
        if let early = checkMACs(buffer, length: length, senderIndex: senderIndex, from: source, now: now) {
            return early
        }
        let consumed = NoiseHandshake.consumeInitiation(
            message, local: privateKey, now: now, peerFor: { self.peers[$0] },
            keepsOwnInitiation: { self.keepsOwnInitiation(crossing: $0, now: now) })
        let peer: Peer
        switch consumed {
        case .accepted(let found): peer = found
        case .decryptionFailed: return drop(.invalidHandshake)
        case .unknownPeer: return drop(.unknownPeer)
        case .staleTimestamp(let found): return drop(.staleTimestamp, peer: found)
        case .flood(let found): return drop(.initiationFlood, peer: found)
        case .crossing(let found):
            // Authentic: the peer is alive and may have roamed; our initiation answers it.
            found.endpoint = source
            return drop(.crossingInitiation, peer: found)
        }
        peer.receivedBytes &+= UInt64(length)
        peer.receivedPackets &+= 1
        timersAnyAuthenticatedPacketTraversal(peer, now: now)
        timersAnyAuthenticatedPacketReceived(peer)
        peer.endpoint = source

        // Answer with a response under a fresh index (wireguard-go `CreateMessageResponse`).
        clearHandshakeIndex(peer)
        let index = newIndex(for: .handshake(peer))
        let response = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<HandshakeResponseLayout.size])
        guard NoiseHandshake.createResponse(into: response, localIndex: index, peer: peer) else {
            indexTable[index] = nil
            clearHandshake(peer)
            return drop(.invalidHandshake, peer: peer)
        }
        peer.cookieGenerator.addMACs(response, now: now)
        beginSession(peer, isInitiator: false, now: now)
        timersSessionDerived(peer, now: now)
        timersAnyAuthenticatedPacketTraversal(peer, now: now)
        timersAnyAuthenticatedPacketSent(peer)
        peer.sentBytes &+= UInt64(HandshakeResponseLayout.size)
        peer.sentPackets &+= 1
        return .reply(to: source, length: HandshakeResponseLayout.size)
    }

    /// Whether an authentic initiation from `peer` that crossed our own initiation in flight is set
    /// aside so that ours completes (an implementation choice; wireguard-go and the kernel answer
    /// both, each side forgets its own initiation, both responses are dropped, and only the jittered
    /// retries break the tie — at one-way delays near the 333 ms jitter span that takes many rounds
    /// or never ends within Rekey-Attempt-Time, see Docs/reliability.md).
    ///
    /// Both sides agree without talking: the side with the greater static public key (bytewise)
    /// keeps its initiation, the other answers it. Only while our initiation is in flight (sent less
    /// than Rekey-Timeout ago): after that the peer's initiation is answered as usual. A peer that
    /// answers every initiation (wireguard-go, the kernel) answers ours, so it converges either way.
    func keepsOwnInitiation(crossing peer: Peer, now: NetInstant) -> Bool {
        guard peer.handshake.phase == .initiationCreated, let sent = peer.handshake.lastSentInitiation,
              now.since(sent) < ProtocolConstants.rekeyTimeout
        else { return false }
        return publicKey.key.orders(before: peer.publicKey.key) == false
    }

    private func receiveResponse(
        _ buffer: UnsafeMutableRawBufferPointer, from source: IPEndpoint, now: NetInstant
    ) -> ReceiveResult {
        let length = HandshakeResponseLayout.size
        let message = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
        let senderIndex = message.littleEndianUInt32(at: HandshakeResponseLayout.sender)
        if let early = checkMACs(buffer, length: length, senderIndex: senderIndex, from: source, now: now) {
            return early
        }
        let receiverIndex = message.littleEndianUInt32(at: HandshakeResponseLayout.receiver)
        guard case .handshake(let peer)? = indexTable[receiverIndex] else { return drop(.unknownReceiverIndex) }
        guard NoiseHandshake.consumeResponse(message, local: privateKey, peer: peer) else {
            return drop(.invalidHandshake, peer: peer)
        }
        peer.receivedBytes &+= UInt64(length)
        peer.receivedPackets &+= 1
        peer.endpoint = source
        timersAnyAuthenticatedPacketTraversal(peer, now: now)
        timersAnyAuthenticatedPacketReceived(peer)
        beginSession(peer, isInitiator: true, now: now)
        timersSessionDerived(peer, now: now)
        timersHandshakeComplete(peer, now: now)
        // Confirm the session at once: staged packets, or a keepalive (wireguard-go `SendKeepalive`).
        requestKeepalive(peer, now: now)
        return .processed
    }

    private func receiveCookieReply(_ message: UnsafeRawBufferPointer, now: NetInstant) -> ReceiveResult {
        let receiverIndex = message.littleEndianUInt32(at: CookieReplyLayout.receiver)
        guard let entry = indexTable[receiverIndex] else { return drop(.unknownReceiverIndex) }
        let peer = entry.peer
        guard peer.cookieGenerator.consumeReply(message, now: now) else { return drop(.invalidCookieReply, peer: peer) }
        return .processed
    }

    /// Removes the index of a handshake in flight without wiping the handshake itself.
    func clearHandshakeIndex(_ peer: Peer) {
        let index = peer.handshake.localIndex
        if index != 0, case .handshake(let owner)? = indexTable[index], owner === peer {
            indexTable[index] = nil
        }
    }

    // MARK: - Transport data

    private func receiveTransportData(
        _ buffer: UnsafeMutableRawBufferPointer, length: Int, from source: IPEndpoint, now: NetInstant
    ) -> ReceiveResult {
        switch prepareTransportData(buffer, length: length, from: source, now: now) {
        case .open(var job, let pending):
            job.perform()
            job.wipeKey()
            return completeReceive(pending, opened: job, now: now)
        case .finished(let result):
            return result
        case .handshake:
            return drop(.unknownMessageType)  // not reached: only transport data gets here
        }
    }

    /// The first half of ``receive(_:length:from:now:)`` for transport data, so that decryption can
    /// run on another thread: checks the length, the receiver index, the keypair's age and (without
    /// updating it) the replay window, and returns the decryption as a ``TransportCryptoJob``.
    /// Handshake and cookie messages return ``ReceivePreparation/handshake``: complete what is
    /// pending, then pass them to ``receive(_:length:from:now:)``.
    public func prepareReceive(
        _ buffer: UnsafeMutableRawBufferPointer, length: Int, from source: IPEndpoint, now: NetInstant
    ) -> ReceivePreparation {
        guard length >= 4, length <= buffer.count, length <= ProtocolConstants.maxMessageSize else {
            return .finished(drop(.invalidLength))
        }
        guard UnsafeRawBufferPointer(buffer).littleEndianUInt32(at: 0) == MessageType.transportData.rawValue else {
            return .handshake
        }
        guard length >= TransportDataLayout.minimumSize else { return .finished(drop(.invalidLength)) }
        return prepareTransportData(buffer, length: length, from: source, now: now)
    }

    @inline(__always)
    private func prepareTransportData(
        _ buffer: UnsafeMutableRawBufferPointer, length: Int, from source: IPEndpoint, now: NetInstant
    ) -> ReceivePreparation {
        let header = UnsafeRawBufferPointer(rebasing: buffer[0..<TransportDataLayout.headerSize])
        let receiverIndex = header.littleEndianUInt32(at: TransportDataLayout.receiver)
        guard case .keypair(let keypair)? = indexTable[receiverIndex] else { return .finished(drop(.unknownReceiverIndex)) }
        let peer = keypair.peer
        guard keypair.isFresh(at: now) else { return .finished(drop(.expiredKeypair, peer: peer)) }
        let counter = header.littleEndianUInt64(at: TransportDataLayout.counter)
        guard keypair.replayWindow.wouldAccept(counter) else { return .finished(drop(.replayedCounter, peer: peer)) }
        let job = TransportCryptoJob(
            operation: .open, text: buffer.baseAddress! + TransportDataLayout.headerSize,
            length: length - TransportDataLayout.minimumSize, counter: counter, key: keypair.receiveKey)
        return .open(job, PendingTransportData(keypair: keypair, source: source, length: length))
    }

    /// The second half of ``receive(_:length:from:now:)`` for transport data, on the owner thread
    /// after `job` ran: the replay window, roaming, keypair rotation, timers and the allowed-IPs check
    /// of the inner packet. Call it in the order the messages were prepared.
    public func completeReceive(_ pending: PendingTransportData, opened job: TransportCryptoJob, now: NetInstant) -> ReceiveResult {
        let keypair = pending.keypair
        let peer = keypair.peer
        let length = pending.length
        let source = pending.source
        let counter = job.counter
        let payloadLength = job.length
        let payload = job.text
        guard job.operation == .open, job.succeeded else { return drop(.decryptionFailed, peer: peer) }
        guard keypair.replayWindow.accept(counter) else { return drop(.replayedCounter, peer: peer) }

        // Authenticated: roam, rotate, and run the receive-side timers (paper §6.2, §6.5).
        peer.endpoint = source
        peer.receivedBytes &+= UInt64(length)
        peer.receivedPackets &+= 1
        if receivedWithKeypair(peer, keypair) {
            timersHandshakeComplete(peer, now: now)
            if !peer.staged.isEmpty || peer.wantsKeepalive { markReady(peer) }
        }
        keepKeyFreshReceiving(peer, now: now)
        timersAnyAuthenticatedPacketTraversal(peer, now: now)
        timersAnyAuthenticatedPacketReceived(peer)
        guard payloadLength > 0 else { return .processed }  // keepalive
        timersDataReceived(peer, now: now)

        // The inner packet must be IPv4/IPv6 with a source the peer may use (paper §2).
        let inner = UnsafeRawBufferPointer(start: payload, count: payloadLength)
        let packetLength: Int
        let sender: Peer?
        switch inner[0] >> 4 {
        case 4:
            guard payloadLength >= 20 else { return drop(.invalidInnerPacket, peer: peer) }
            packetLength = Int(UInt16(bigEndian: inner.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            guard packetLength >= 20, packetLength <= payloadLength else { return drop(.invalidInnerPacket, peer: peer) }
            sender = routes.lookup(IPv4Address(rawValue: UInt32(bigEndian: inner.loadUnaligned(fromByteOffset: 12, as: UInt32.self))))
        case 6:
            guard payloadLength >= 40 else { return drop(.invalidInnerPacket, peer: peer) }
            packetLength = 40 + Int(UInt16(bigEndian: inner.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
            guard packetLength <= payloadLength else { return drop(.invalidInnerPacket, peer: peer) }
            sender = routes.lookup(IPv6Address(
                high: UInt64(bigEndian: inner.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                low: UInt64(bigEndian: inner.loadUnaligned(fromByteOffset: 16, as: UInt64.self))))
        default:
            return drop(.invalidInnerPacket, peer: peer)
        }
        guard sender === peer else { return drop(.disallowedSource, peer: peer) }
        let start = TransportDataLayout.headerSize
        return .packet(peer: peer.publicKey, range: start..<(start + packetLength))
    }
}
