/// Why a datagram or packet was dropped. Every malformed or hostile input ends in exactly one of
/// these, counted per device and, when the sender is known, per peer.
public enum DropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// The datagram's length does not fit its message type.
    case invalidLength
    /// The first four bytes are not a known message type.
    case unknownMessageType
    /// A handshake message whose mac1 does not verify (paper §5.4.4).
    case invalidMAC1
    /// Under load, a handshake message without a valid mac2: answered with a cookie reply (paper §5.4.7).
    case cookieRequired
    /// Under load, a handshake message with a valid mac2 from a source over its rate (20/s, burst 5;
    /// wireguard-go `ratelimiter`).
    case rateLimited
    /// Under load, a handshake message without a valid mac2 from a source that has had its cookie
    /// replies for now (the same 20/s, burst 5 per source as ``rateLimited``): dropped unanswered.
    case cookieReplyRateLimited
    /// Under load, a handshake message beyond the device's budget of messages examined per second
    /// (``DeviceConfiguration/handshakeMessagesPerSecondUnderLoad``): dropped after the type and
    /// length check, before mac1 (wireguard-go drops when its handshake queue is full).
    case handshakeBudgetExceeded
    /// A response, cookie reply or transport message for an index we did not hand out.
    case unknownReceiverIndex
    /// An initiation from a static key that is not a configured peer.
    case unknownPeer
    /// A handshake message that fails to decrypt or does not match the handshake in flight.
    case invalidHandshake
    /// An initiation whose TAI64N timestamp is not newer than the last accepted one (replay, paper §5.1).
    case staleTimestamp
    /// An initiation arriving sooner than 1/50 s after the previous one from the same peer (paper §5.3).
    case initiationFlood
    /// An authentic initiation that crossed our own initiation in flight, which takes precedence
    /// (the greater static key's initiation completes; see `WireGuardDevice.keepsOwnInitiation`).
    case crossingInitiation
    /// A cookie reply that does not decrypt against our last mac1.
    case invalidCookieReply
    /// A transport message for keys older than `Reject-After-Time` (paper §6.1).
    case expiredKeypair
    /// A transport counter seen before, too old for the replay window, or past `Reject-After-Messages`.
    case replayedCounter
    /// A transport message that does not authenticate.
    case decryptionFailed
    /// A decrypted packet that is not a well-formed IPv4 or IPv6 packet.
    case invalidInnerPacket
    /// A decrypted packet whose source address the peer is not allowed to use (paper §2).
    case disallowedSource
    /// An outgoing packet whose destination matches no peer's allowed IPs.
    case noRoute
    /// An outgoing packet for a peer whose endpoint is not known yet.
    case noEndpoint
    /// A staged packet pushed out by newer ones while waiting for a handshake.
    case stagedQueueFull
    /// The caller's buffer cannot hold the encrypted datagram (headroom, padding, tag).
    case bufferTooSmall
    /// An outgoing packet that is empty or larger than a WireGuard message can carry.
    case invalidOutgoingPacket

    public var description: String {
        switch self {
        case .invalidLength: "invalid length"
        case .unknownMessageType: "unknown message type"
        case .invalidMAC1: "invalid mac1"
        case .cookieRequired: "cookie required (under load)"
        case .rateLimited: "handshake rate limit (under load)"
        case .cookieReplyRateLimited: "cookie reply rate limit (under load)"
        case .handshakeBudgetExceeded: "handshake budget exceeded (under load)"
        case .unknownReceiverIndex: "unknown receiver index"
        case .unknownPeer: "unknown peer"
        case .invalidHandshake: "invalid handshake message"
        case .staleTimestamp: "stale initiation timestamp"
        case .initiationFlood: "initiation flood"
        case .crossingInitiation: "initiation crossed ours (ours goes first)"
        case .invalidCookieReply: "invalid cookie reply"
        case .expiredKeypair: "expired keypair"
        case .replayedCounter: "replayed counter"
        case .decryptionFailed: "decryption failed"
        case .invalidInnerPacket: "invalid inner packet"
        case .disallowedSource: "source not in allowed IPs"
        case .noRoute: "no route (allowed IPs)"
        case .noEndpoint: "peer endpoint unknown"
        case .stagedQueueFull: "staged queue full"
        case .bufferTooSmall: "buffer too small"
        case .invalidOutgoingPacket: "invalid outgoing packet"
        }
    }
}

/// A fixed table of counts, one per ``DropReason``; incrementing never allocates.
public struct DropCounters: Sendable, CustomStringConvertible {
    private var counts = [UInt64](repeating: 0, count: DropReason.allCases.count)

    public init() {}

    public subscript(reason: DropReason) -> UInt64 {
        get { counts[reason.rawValue] }
        set { counts[reason.rawValue] = newValue }
    }

    @inline(__always)
    mutating func increment(_ reason: DropReason) {
        counts[reason.rawValue] &+= 1
    }

    /// Sum over all reasons.
    public var total: UInt64 { counts.reduce(0, &+) }

    /// Non-zero counts by reason.
    public var nonZero: [(DropReason, UInt64)] {
        DropReason.allCases.compactMap { counts[$0.rawValue] == 0 ? nil : ($0, counts[$0.rawValue]) }
    }

    public var description: String {
        nonZero.map { "\($0.0): \($0.1)" }.joined(separator: ", ")
    }
}
