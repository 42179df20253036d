import Relay
import Wire
import WireGuard

/// The least of disco (tailscale's path discovery) a tailnet node needs to be reached directly:
/// a disco ping from a peer's disco key is answered with a pong to the address it came from.
///
/// Clients such as tailscale's and arkitekt-mesh send WireGuard to an endpoint only after a pong
/// confirmed it, so without this answer they never talk to a node that has no DERP path. Choosing
/// paths itself (pinging peers, call-me-maybe over DERP, DERP fallback) is the DERP/disco work in the
/// `Relay` module; this type only uses its codecs. It lives on the engine's loop thread.
final class DiscoPongResponder {
    private let privateKey: PrivateKey
    private let publicKey: PublicKey
    /// Peers' disco keys and the node ids that announced them.
    private var knownKeys: [PublicKey: Int64] = [:]
    /// NaCl boxes per sender, computed on first use (one X25519 each); at most one per known key.
    private var boxes: [PublicKey: NaClBox] = [:]
    /// Pings answered, and disco packets dropped (unknown sender, bad box, other messages).
    private(set) var answered: UInt64 = 0
    private(set) var dropped: UInt64 = 0

    init(privateKey: PrivateKey) {
        self.privateKey = privateKey
        publicKey = privateKey.publicKey
    }

    /// Notes a peer's disco key (from a netmap).
    func add(_ key: PublicKey, peer: Int64) { knownKeys[key] = peer }

    /// Forgets a peer's disco key.
    func remove(_ key: PublicKey, peer: Int64) {
        guard knownKeys[key] == peer else { return }
        knownKeys[key] = nil
        boxes[key] = nil
    }

    /// The pong packet answering `datagram` when it is a ping from a known peer, with that peer's
    /// node id; nil otherwise.
    func answer(_ datagram: UnsafeRawBufferPointer, from source: Endpoint) -> (pong: [UInt8], peer: Int64)? {
        guard let packet = try? DiscoPacket(validating: datagram), let peer = knownKeys[packet.sender],
              let box = box(for: packet.sender)
        else {
            dropped += 1
            return nil
        }
        guard case .ping(let transaction, _)? = try? packet.open(with: box) else {
            dropped += 1
            return nil
        }
        answered += 1
        return (DiscoPacket.seal(.pong(transaction, source: source), from: publicKey, with: box), peer)
    }

    private func box(for sender: PublicKey) -> NaClBox? {
        if let box = boxes[sender] { return box }
        guard let box = NaClBox(privateKey: privateKey, peer: sender) else { return nil }
        boxes[sender] = box
        return box
    }
}
