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
    /// Peers' disco keys, each with how many peers announce it (a key is dropped when none does).
    private var knownKeys: [PublicKey: Int] = [:]
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
    func add(_ key: PublicKey) { knownKeys[key, default: 0] += 1 }

    /// Forgets one announcement of a disco key.
    func remove(_ key: PublicKey) {
        guard let count = knownKeys[key] else { return }
        if count <= 1 {
            knownKeys[key] = nil
            boxes[key] = nil
        } else {
            knownKeys[key] = count - 1
        }
    }

    /// The pong packet answering `datagram` when it is a ping from a known peer; nil otherwise.
    func answer(_ datagram: UnsafeRawBufferPointer, from source: Endpoint) -> [UInt8]? {
        guard let packet = try? DiscoPacket(validating: datagram), knownKeys[packet.sender] != nil,
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
        return DiscoPacket.seal(.pong(transaction, source: source), from: publicKey, with: box)
    }

    private func box(for sender: PublicKey) -> NaClBox? {
        if let box = boxes[sender] { return box }
        guard let box = NaClBox(privateKey: privateKey, peer: sender) else { return nil }
        boxes[sender] = box
        return box
    }
}
