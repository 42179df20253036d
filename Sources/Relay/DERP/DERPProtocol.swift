/// Constants of the DERP protocol, from tailscale's `derp/derp.go` (the protocol has no RFC; the Go
/// source is its specification) unless marked as a choice of this implementation.
public enum DERPProtocol {
    /// `ProtocolVersion`: 2 adds the source key to every received packet (`derp.go`).
    public static let version = 2
    /// `frameHeaderLen`: one type byte and a big-endian 32-bit length (`derp.go`).
    public static let frameHeaderLength = 5
    /// `keyLen`: a Curve25519 public key.
    public static let keyLength = 32
    /// `MaxPacketSize`: the largest packet a client may send or receive through a relay (64 KiB).
    public static let maxPacketSize = 64 << 10
    /// `maxInfoLen`: the largest client or server info frame (1 MiB).
    public static let maxInfoLength = 1 << 20
    /// `magic`: `"DERP🔑"`, the 8 bytes that open the server-key frame.
    public static let magic: [UInt8] = [0x44, 0x45, 0x52, 0x50, 0xF0, 0x9F, 0x94, 0x91]
    /// `KeepAlive`: how often a server sends a keep-alive frame to an idle client (60 s).
    public static let keepAliveInterval = Duration.seconds(60)
    /// `pingSize`/`pongSize`: the 8 bytes a ping carries and a pong echoes.
    public static let pingLength = 8

    /// The largest frame this client buffers whole: a received packet (source key + `MaxPacketSize`).
    /// Larger frames of types the client does not need are skipped as they stream past, so a
    /// hostile relay cannot make the client hold more than this (implementation choice).
    public static let maxBufferedFrameLength = keyLength + maxPacketSize
}

/// A DERP frame type (`derp.go`, `frameType`).
public struct DERPFrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Server → client: magic + the server's public key.
    public static let serverKey = DERPFrameType(rawValue: 0x01)
    /// Client → server: the client's public key + a box of its JSON info.
    public static let clientInfo = DERPFrameType(rawValue: 0x02)
    /// Server → client: a box of the server's JSON info.
    public static let serverInfo = DERPFrameType(rawValue: 0x03)
    /// Client → server: destination key + packet.
    public static let sendPacket = DERPFrameType(rawValue: 0x04)
    /// Server → client: source key + packet (protocol version 2).
    public static let receivePacket = DERPFrameType(rawValue: 0x05)
    /// Server → client: no payload; proof the connection is alive.
    public static let keepAlive = DERPFrameType(rawValue: 0x06)
    /// Client → server: one byte, 1 when this is the client's home relay.
    public static let notePreferred = DERPFrameType(rawValue: 0x07)
    /// Server → client: a key the client sent to has left (key + optional reason byte).
    public static let peerGone = DERPFrameType(rawValue: 0x08)
    /// Server → client: a key connected (mesh watchers only).
    public static let peerPresent = DERPFrameType(rawValue: 0x09)
    /// Server ↔ server: a packet forwarded within a mesh.
    public static let forwardPacket = DERPFrameType(rawValue: 0x0A)
    /// Client → server: watch connection changes (mesh).
    public static let watchConnections = DERPFrameType(rawValue: 0x10)
    /// Client → server: close a peer's connection (mesh).
    public static let closePeer = DERPFrameType(rawValue: 0x11)
    /// Either way: 8 bytes to echo.
    public static let ping = DERPFrameType(rawValue: 0x12)
    /// Either way: the 8 bytes of a ping.
    public static let pong = DERPFrameType(rawValue: 0x13)
    /// Server → client: a health problem as text (empty: healthy again).
    public static let health = DERPFrameType(rawValue: 0x14)
    /// Server → client: the server restarts; two big-endian 32-bit millisecond counts follow.
    public static let restarting = DERPFrameType(rawValue: 0x15)

    public var description: String { "0x" + String(rawValue, radix: 16) }
}

/// Why a relay reports a peer gone (`derp.go`, `PeerGoneReasonType`).
public enum DERPPeerGoneReason: UInt8, Sendable {
    /// The peer was connected to this relay and left.
    case disconnected = 0
    /// The relay has no such peer (sent in reply to a packet for it).
    case notHere = 1
}

/// A DERP protocol violation by the relay. The connection that saw it is closed and reconnected.
public enum DERPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A frame longer than this client accepts for its type.
    case frameTooLong(type: DERPFrameType, length: Int, limit: Int)
    /// A frame shorter than its type's fixed fields.
    case frameTooShort(type: DERPFrameType, length: Int, minimum: Int)
    /// The first frame was not a server key, or its magic was wrong.
    case badServerKey
    /// The server key differs from the one the relay announced or the client expected.
    case unexpectedServerKey
    /// The server info box did not open with the server's key.
    case badServerInfo
    /// A frame that only makes sense at another point of the handshake.
    case unexpectedFrame(DERPFrameType, state: String)
    /// The HTTP upgrade to DERP was refused or malformed.
    case upgradeRefused(String)

    public var description: String {
        switch self {
        case let .frameTooLong(type, length, limit): "DERP frame \(type) of \(length) bytes exceeds \(limit)"
        case let .frameTooShort(type, length, minimum): "DERP frame \(type) of \(length) bytes is shorter than \(minimum)"
        case .badServerKey: "the relay did not start with a valid server-key frame"
        case .unexpectedServerKey: "the relay's key is not the one it announced"
        case .badServerInfo: "the relay's server info did not verify with its key"
        case let .unexpectedFrame(type, state): "DERP frame \(type) is not expected while \(state)"
        case let .upgradeRefused(reason): "the relay refused the DERP upgrade: \(reason)"
        }
    }
}
