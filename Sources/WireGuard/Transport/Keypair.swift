/// A pair of transport keys from one handshake (WireGuard paper §5.4.5), with the sending counter and
/// the receiving replay window. Keys are wiped when the keypair is released.
final class Keypair {
    // Readable in the module only for the parallel path, whose ``TransportCryptoJob`` takes a copy
    // that ``CryptoBatch`` wipes when it is reset; the sequential path uses the keys in place.
    @exclusivity(unchecked) private(set) var sendKey: Key32
    @exclusivity(unchecked) private(set) var receiveKey: Key32
    /// The next counter (nonce) to send with.
    @exclusivity(unchecked) var sendCounter: UInt64 = 0
    let replayWindow = ReplayWindow()
    /// When the handshake that made these keys completed.
    let created: NetInstant
    /// `created + Reject-After-Time`: from then on the keys are neither used nor accepted.
    let rejectAt: NetInstant
    /// `created + Rekey-After-Time`: from then on the initiator rekeys when it sends.
    let rekeyAt: NetInstant
    /// True on the side that sent the initiation; only the initiator rekeys on age (paper §6.2).
    let isInitiator: Bool
    /// Our index: peers address transport messages for this keypair to it.
    let localIndex: UInt32
    /// The peer's index, written into every transport message we send.
    let remoteIndex: UInt32
    unowned let peer: Peer

    init(sendKey: Key32, receiveKey: Key32, created: NetInstant, isInitiator: Bool,
         localIndex: UInt32, remoteIndex: UInt32, peer: Peer) {
        self.sendKey = sendKey
        self.receiveKey = receiveKey
        self.created = created
        rejectAt = created + ProtocolConstants.rejectAfterTime
        rekeyAt = created + ProtocolConstants.rekeyAfterTime
        self.isInitiator = isInitiator
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.peer = peer
    }

    /// The keys may still be used at `now` (paper §6.1 `Reject-After-Time`).
    @inline(__always)
    func isFresh(at now: NetInstant) -> Bool {
        now < rejectAt
    }

    /// The keypair may encrypt another message at `now`.
    @inline(__always)
    func canSend(at now: NetInstant) -> Bool {
        sendCounter < ProtocolConstants.rejectAfterMessages && isFresh(at: now)
    }

    /// Lends the send key in place (no copy is made per packet).
    @inline(__always)
    func withSendKey<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        Key32.withUnsafeBytes(of: &sendKey) { body($0.baseAddress!) }
    }

    /// Lends the receive key in place (no copy is made per packet).
    @inline(__always)
    func withReceiveKey<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        Key32.withUnsafeBytes(of: &receiveKey) { body($0.baseAddress!) }
    }

    deinit {
        sendKey.wipe()
        receiveKey.wipe()
    }
}

/// A peer's keypairs: `current` sends, `previous` still receives packets in flight, and `next` is the
/// responder's unconfirmed keypair until the initiator's first data arrives with it (paper §5.4.5, §6.2;
/// wireguard-go `Keypairs`).
struct KeypairSet {
    var previous: Keypair?
    var current: Keypair?
    var next: Keypair?

    var all: [Keypair] { [previous, current, next].compactMap { $0 } }
}
