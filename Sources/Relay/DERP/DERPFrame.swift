import WireGuard

/// One DERP frame in a caller-owned buffer: its type and payload (`u8 type | u32be length | payload`,
/// `derp.go`). A view: valid only as long as the buffer it points into.
public struct DERPFrame {
    public var type: DERPFrameType
    public var payload: UnsafeRawBufferPointer

    public init(type: DERPFrameType, payload: UnsafeRawBufferPointer) {
        self.type = type
        self.payload = payload
    }
}

/// What a relay says to a client, parsed from a ``DERPFrame`` without copying packet bytes.
public enum DERPServerMessage {
    /// The first frame: the relay's public key (after the magic).
    case serverKey(PublicKey)
    /// The relay's info, sealed to the client (nonce + box).
    case serverInfo(sealed: UnsafeRawBufferPointer)
    /// A packet from `source` (a WireGuard datagram or a disco message).
    case packet(source: PublicKey, payload: UnsafeRawBufferPointer)
    /// The relay is alive.
    case keepAlive
    /// `peer` is gone from this relay.
    case peerGone(PublicKey, reason: DERPPeerGoneReason)
    /// `peer` is connected (only to watchers).
    case peerPresent(PublicKey)
    /// The relay pings: the client echoes these 8 bytes in a pong.
    case ping(UInt64)
    /// The relay's answer to the client's ping.
    case pong(UInt64)
    /// A health message from the relay (UTF-8 text; empty means healthy again).
    case health(UnsafeRawBufferPointer)
    /// The relay restarts: reconnect after `reconnectIn` and keep trying for `tryFor`.
    case restarting(reconnectIn: Duration, tryFor: Duration)
    /// A frame a client does not act on (mesh frames, types unknown to this version): skipped.
    case ignored(DERPFrameType)

    /// Parses `frame`; throws ``DERPError/frameTooShort(type:length:minimum:)`` when a known type
    /// lacks its fixed fields, ``DERPError/badServerKey`` for a server key without the magic.
    public init(parsing frame: DERPFrame) throws(DERPError) {
        let payload = frame.payload
        func require(_ minimum: Int) throws(DERPError) {
            guard payload.count >= minimum else {
                throw .frameTooShort(type: frame.type, length: payload.count, minimum: minimum)
            }
        }
        let key = DERPProtocol.keyLength
        switch frame.type {
        case .serverKey:
            let magic = DERPProtocol.magic
            guard payload.count >= magic.count + key, payload.hasPrefix(magic) else { throw .badServerKey }
            self = .serverKey(payload.publicKey(at: magic.count))
        case .serverInfo:
            try require(NaClBox.overhead)
            self = .serverInfo(sealed: payload)
        case .receivePacket:
            try require(key)
            self = .packet(source: payload.publicKey(at: 0), payload: payload.slice(key, payload.count))
        case .keepAlive:
            self = .keepAlive
        case .peerGone:
            try require(key)
            // The reason byte was added later; a frame without it means "disconnected" (derp_client.go).
            let reason = payload.count > key ? DERPPeerGoneReason(rawValue: payload[key]) ?? .disconnected : .disconnected
            self = .peerGone(payload.publicKey(at: 0), reason: reason)
        case .peerPresent:
            try require(key)
            self = .peerPresent(payload.publicKey(at: 0))
        case .ping:
            try require(DERPProtocol.pingLength)
            self = .ping(payload.bigEndianUInt64(at: 0))
        case .pong:
            try require(DERPProtocol.pingLength)
            self = .pong(payload.bigEndianUInt64(at: 0))
        case .health:
            self = .health(payload)
        case .restarting:
            try require(8)
            self = .restarting(reconnectIn: .milliseconds(payload.bigEndianUInt32(at: 0)),
                               tryFor: .milliseconds(payload.bigEndianUInt32(at: 4)))
        default:
            self = .ignored(frame.type)
        }
    }
}

/// Builds the frames a client sends. Packet frames are built around the packet in place: the caller
/// leaves ``sendPacketHeaderLength`` bytes in front of it and ``writeSendPacketHeader(to:packetLength:into:)``
/// fills them, so a WireGuard datagram goes to the relay without a copy.
public enum DERPFrameWriter {
    /// Frame header plus destination key in front of a sent packet.
    public static let sendPacketHeaderLength = DERPProtocol.frameHeaderLength + DERPProtocol.keyLength

    /// Writes a frame header (type + big-endian length) at the start of `buffer` (≥ 5 bytes).
    public static func writeHeader(_ type: DERPFrameType, payloadLength: Int, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= DERPProtocol.frameHeaderLength)
        buffer[0] = type.rawValue
        buffer.storeBigEndian(UInt32(payloadLength), at: 1)
    }

    /// Writes the 37 bytes in front of a packet of `packetLength` bytes for `destination`.
    public static func writeSendPacketHeader(to destination: PublicKey, packetLength: Int, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= sendPacketHeaderLength && packetLength <= DERPProtocol.maxPacketSize)
        writeHeader(.sendPacket, payloadLength: DERPProtocol.keyLength + packetLength, into: buffer)
        buffer.store(destination, at: DERPProtocol.frameHeaderLength)
    }

    /// A whole send-packet frame (tests, disco messages; allocates).
    public static func sendPacket(to destination: PublicKey, _ packet: [UInt8]) -> [UInt8] {
        var frame = frame(.sendPacket, payloadLength: DERPProtocol.keyLength + packet.count)
        frame.append(destination)
        frame.append(contentsOf: packet)
        return frame
    }

    /// The client-info frame: the client's key, then `sealedInfo` (nonce + box of the JSON).
    public static func clientInfo(publicKey: PublicKey, sealedInfo: [UInt8]) -> [UInt8] {
        var frame = frame(.clientInfo, payloadLength: DERPProtocol.keyLength + sealedInfo.count)
        frame.append(publicKey)
        frame.append(contentsOf: sealedInfo)
        return frame
    }

    /// Tells the relay whether it is the client's home (`frameNotePreferred`).
    public static func notePreferred(_ preferred: Bool) -> [UInt8] {
        frame(.notePreferred, payloadLength: 1) + [preferred ? 1 : 0]
    }

    /// A ping carrying `data`.
    public static func ping(_ data: UInt64) -> [UInt8] { eightBytes(.ping, data) }

    /// The pong that answers a ping carrying `data`.
    public static func pong(_ data: UInt64) -> [UInt8] { eightBytes(.pong, data) }

    private static func eightBytes(_ type: DERPFrameType, _ data: UInt64) -> [UInt8] {
        var frame = frame(type, payloadLength: 8)
        frame.appendBigEndian(UInt32(truncatingIfNeeded: data >> 32))
        frame.appendBigEndian(UInt32(truncatingIfNeeded: data))
        return frame
    }

    private static func frame(_ type: DERPFrameType, payloadLength: Int) -> [UInt8] {
        var frame = [UInt8]()
        frame.reserveCapacity(DERPProtocol.frameHeaderLength + payloadLength)
        frame.append(type.rawValue)
        frame.appendBigEndian(UInt32(payloadLength))
        return frame
    }
}
