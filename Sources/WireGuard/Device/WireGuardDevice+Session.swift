import Wire

extension WireGuardDevice {
    /// Derives the transport keypair from a finished handshake and rotates it in
    /// (paper §5.4.5; wireguard-go `BeginSymmetricSession`):
    /// - the initiator may send at once: the new keypair becomes `current`;
    /// - the responder must wait for the initiator's first message: the new keypair becomes `next`.
    func beginSession(_ peer: Peer, isInitiator: Bool, now: NetInstant) {
        let handshake = peer.handshake
        var (sendKey, receiveKey) = NoiseHandshake.deriveTransportKeys(handshake, isInitiator: isInitiator)
        defer { sendKey.wipe(); receiveKey.wipe() }
        let keypair = Keypair(
            sendKey: sendKey, receiveKey: receiveKey, created: now, isInitiator: isInitiator,
            localIndex: handshake.localIndex, remoteIndex: handshake.remoteIndex, peer: peer)
        // The handshake's index now addresses the keypair.
        indexTable[handshake.localIndex] = .keypair(keypair)
        handshake.clear()

        var set = peer.keypairs
        if isInitiator {
            if let next = set.next {
                set.next = nil
                retire(set.previous)
                set.previous = next
                retire(set.current)
            } else {
                retire(set.previous)
                set.previous = set.current
            }
            set.current = keypair
        } else {
            retire(set.next)
            set.next = keypair
            retire(set.previous)
            set.previous = nil
        }
        peer.keypairs = set
        peer.handshakesCompleted &+= 1
        if let trace { trace(.sessionStarted(peer: peer.publicKey, initiator: isInitiator)) }
    }

    /// The first authenticated message under `next` confirms it: it becomes `current`
    /// (wireguard-go `ReceivedWithKeypair`). Returns true when that rotation happened.
    @inline(__always)
    func receivedWithKeypair(_ peer: Peer, _ keypair: Keypair) -> Bool {
        guard let next = peer.keypairs.next, next === keypair else { return false }
        retire(peer.keypairs.previous)
        peer.keypairs.previous = peer.keypairs.current
        peer.keypairs.current = next
        peer.keypairs.next = nil
        return true
    }
}
