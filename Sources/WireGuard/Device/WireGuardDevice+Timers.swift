import Wire

extension WireGuardDevice {
    // MARK: - Timer events (wireguard-go timers.go, paper §6)

    /// Data went out: expect a reply within `Keepalive-Timeout + Rekey-Timeout`, else rehandshake.
    @inline(__always)
    func timersDataSent(_ peer: Peer, now: NetInstant) {
        guard peer.timers.newHandshake == nil else { return }
        peer.timers.newHandshake = now + ProtocolConstants.newHandshakeAfterUnansweredData + jitter()
    }

    /// Data came in: answer with a keepalive if we send nothing within `Keepalive-Timeout`.
    @inline(__always)
    func timersDataReceived(_ peer: Peer, now: NetInstant) {
        if peer.timers.sendKeepalive == nil {
            peer.timers.sendKeepalive = now + ProtocolConstants.keepaliveTimeout
        } else {
            peer.timers.needAnotherKeepalive = true
        }
    }

    /// Anything authenticated went out: no passive keepalive needed.
    @inline(__always)
    func timersAnyAuthenticatedPacketSent(_ peer: Peer) {
        // Tested first: each change of `timers` marks the peer for the timer schedule.
        if peer.timers.sendKeepalive != nil { peer.timers.sendKeepalive = nil }
    }

    /// Anything authenticated came in: the peer is alive, no need to rehandshake for silence.
    @inline(__always)
    func timersAnyAuthenticatedPacketReceived(_ peer: Peer) {
        if peer.timers.newHandshake != nil { peer.timers.newHandshake = nil }
    }

    /// Anything authenticated went either way: restart the persistent keepalive interval.
    @inline(__always)
    func timersAnyAuthenticatedPacketTraversal(_ peer: Peer, now: NetInstant) {
        guard let interval = peer.persistentKeepalive, interval > .zero else { return }
        peer.timers.persistentKeepalive = now + interval
    }

    func timersHandshakeInitiated(_ peer: Peer, now: NetInstant) {
        peer.timers.retransmitHandshake = now + ProtocolConstants.rekeyTimeout + jitter()
    }

    func timersHandshakeComplete(_ peer: Peer, now: NetInstant) {
        peer.timers.retransmitHandshake = nil
        peer.timers.handshakeAttempts = 0
        peer.timers.sentLastMinuteHandshake = false
        peer.lastHandshake = now
    }

    func timersSessionDerived(_ peer: Peer, now: NetInstant) {
        peer.timers.zeroKeyMaterial = now + ProtocolConstants.zeroKeyMaterialAfter
    }

    // MARK: - Expiry

    /// The earliest timer deadline of all peers, after reading again the peers whose timers changed.
    var nextTimerDeadline: NetInstant? {
        timerSchedule.refresh { slot in
            guard let peer = peersBySlot[Int(slot)] else { return nil }
            peer.timersStale = false
            return peer.timers.earliest
        }
        return timerSchedule.heap.earliest
    }

    /// Fires the due timers of the peers whose earliest deadline is due, in slot order; other peers
    /// are not visited.
    private func fireTimers(now: NetInstant) {
        duePeers.removeAll(keepingCapacity: true)
        while let slot = timerSchedule.heap.popDue(now: now) {
            guard let peer = peersBySlot[Int(slot)] else { continue }
            duePeers.append(peer)
            if !peer.timersStale {
                // Back into the heap at the next refresh, with whatever its timers leave.
                peer.timersStale = true
                timerSchedule.markStale(slot)
            }
        }
        if duePeers.count > 1 { duePeers.sort { $0.timerSlot < $1.timerSlot } }
        for peer in duePeers {
            timerVisits += 1
            fireTimers(peer, now: now)
        }
    }

    /// Fires `peer`'s due timers (any that is not due is left alone).
    func fireTimers(_ peer: Peer, now: NetInstant) {
        if let due = peer.timers.retransmitHandshake, due <= now {
            peer.timers.retransmitHandshake = nil
            if peer.timers.handshakeAttempts > ProtocolConstants.maxHandshakeAttempts {
                // Paper §6.4: give up after Rekey-Attempt-Time; drop what waited for the session.
                peer.staged.removeAll()
                peer.wantsKeepalive = false
                if peer.timers.zeroKeyMaterial == nil {
                    peer.timers.zeroKeyMaterial = now + ProtocolConstants.zeroKeyMaterialAfter
                }
            } else {
                peer.timers.handshakeAttempts += 1
                requestInitiation(peer, isRetry: true, now: now)
            }
        }
        if let due = peer.timers.sendKeepalive, due <= now {
            peer.timers.sendKeepalive = nil
            requestKeepalive(peer, now: now)
            if peer.timers.needAnotherKeepalive {
                peer.timers.needAnotherKeepalive = false
                peer.timers.sendKeepalive = now + ProtocolConstants.keepaliveTimeout
            }
        }
        if let due = peer.timers.newHandshake, due <= now {
            peer.timers.newHandshake = nil
            requestInitiation(peer, isRetry: false, now: now)
        }
        if let due = peer.timers.zeroKeyMaterial, due <= now {
            peer.timers.zeroKeyMaterial = nil
            zeroKeyMaterial(peer)
        }
        if let due = peer.timers.persistentKeepalive, due <= now {
            peer.timers.persistentKeepalive = nil
            if let interval = peer.persistentKeepalive, interval > .zero {
                requestKeepalive(peer, now: now)
            }
        }
    }

    /// Queues a keepalive; without a usable session it starts a handshake first
    /// (wireguard-go `SendKeepalive` → `SendStagedPackets`).
    func requestKeepalive(_ peer: Peer, now: NetInstant) {
        if peer.staged.isEmpty { peer.wantsKeepalive = true }
        markReady(peer)
        if !(peer.keypairs.current?.canSend(at: now) ?? false) {
            requestInitiation(peer, isRetry: false, now: now)
        }
    }

    // MARK: - Poll

    /// Produces the next datagram that is due (a handshake initiation or retry, a keepalive, or a
    /// packet that waited for a session) into `buffer`, which should hold a full datagram
    /// (MTU + 32 bytes, at least 148). Call until it returns `.idle`.
    public func poll(into buffer: UnsafeMutableRawBufferPointer, now: NetInstant) -> PollResult {
        if let due = nextTimerDeadline, due <= now { fireTimers(now: now) }
        while let peer = readyPeers.last {
            if let (endpoint, length) = emit(peer, into: buffer, now: now) {
                return .datagram(to: endpoint, length: length)
            }
            peer.isReady = false
            readyPeers.removeLast()
        }
        return .idle(nextDeadline: nextTimerDeadline)
    }

    /// One datagram of `peer`'s pending output, or nil when it has nothing it can send now.
    private func emit(_ peer: Peer, into buffer: UnsafeMutableRawBufferPointer, now: NetInstant) -> (IPEndpoint, Int)? {
        guard let endpoint = peer.endpoint else {
            // Nowhere to send: initiations wait for an endpoint; staged packets stay bounded.
            peer.wantsInitiation = false
            return nil
        }
        if peer.wantsInitiation {
            peer.wantsInitiation = false
            if let length = writeInitiation(peer, into: buffer, now: now) { return (endpoint, length) }
        }
        guard !peer.staged.isEmpty || peer.wantsKeepalive else { return nil }
        // Without a usable session, whoever queued this output also requested a handshake; the
        // output goes out when it completes.
        guard let keypair = peer.keypairs.current, keypair.canSend(at: now) else { return nil }
        let start = TransportDataLayout.headerSize
        while let packet = peer.staged.popFirst() {
            guard start + packet.count <= buffer.count else {
                count(.bufferTooSmall, peer: peer)
                continue
            }
            packet.withUnsafeBytes { (buffer.baseAddress! + start).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            guard let length = seal(buffer, payloadLength: packet.count, keypair: keypair) else {
                count(.bufferTooSmall, peer: peer)
                continue
            }
            peer.wantsKeepalive = false
            didSend(peer, keypair: keypair, length: length, isData: true, now: now)
            return (endpoint, length)
        }
        if peer.wantsKeepalive {
            peer.wantsKeepalive = false
            guard let length = seal(buffer, payloadLength: 0, keypair: keypair) else {
                count(.bufferTooSmall, peer: peer)
                return nil
            }
            didSend(peer, keypair: keypair, length: length, isData: false, now: now)
            return (endpoint, length)
        }
        return nil
    }

    /// Writes a fresh initiation with MACs (wireguard-go `SendHandshakeInitiation`).
    private func writeInitiation(_ peer: Peer, into buffer: UnsafeMutableRawBufferPointer, now: NetInstant) -> Int? {
        let size = HandshakeInitiationLayout.size
        guard buffer.count >= size else {
            count(.bufferTooSmall, peer: peer)
            return nil
        }
        if let last = peer.handshake.lastSentInitiation, now.since(last) < ProtocolConstants.rekeyTimeout { return nil }
        peer.handshake.lastSentInitiation = now
        clearHandshakeIndex(peer)
        let index = newIndex(for: .handshake(peer))
        let message = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
        guard NoiseHandshake.createInitiation(
            into: message, localIndex: index, timestamp: wallClock.timestamp(at: now), local: privateKey, peer: peer)
        else {
            indexTable[index] = nil
            peer.handshake.clear()
            return nil
        }
        peer.cookieGenerator.addMACs(message, now: now)
        peer.sentBytes &+= UInt64(size)
        peer.sentPackets &+= 1
        timersAnyAuthenticatedPacketTraversal(peer, now: now)
        timersAnyAuthenticatedPacketSent(peer)
        timersHandshakeInitiated(peer, now: now)
        return size
    }
}
