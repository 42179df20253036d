import Wire
import WireGuard

/// Constants of disco, tailscale's path-discovery protocol (`disco/disco.go`; no RFC).
public enum DiscoProtocol {
    /// `Magic`: `"TS💬"`, the 6 bytes that open every disco packet.
    public static let magic: [UInt8] = [0x54, 0x53, 0xF0, 0x9F, 0x92, 0xAC]
    /// Magic, sender disco key and nonce: the clear header of a disco packet.
    public static let headerLength = magic.count + 32 + NaClBox.nonceLength
    /// `v0`: the only message version; longer messages are accepted for future versions.
    public static let version: UInt8 = 0
    /// `epLength`: an endpoint on the wire, a 16-byte (IPv4-mapped) address and a big-endian port.
    public static let endpointLength = 18
    /// The largest disco packet accepted (implementation choice: one 64 KiB DERP packet; a UDP
    /// datagram is smaller anyway).
    public static let maxPacketLength = DERPProtocol.maxPacketSize

    /// True when `bytes` starts with the disco magic and is long enough for the header (`LooksLikeDiscoWrapper`).
    /// WireGuard messages start with a type byte 1–4 and three zero bytes, so they never match.
    public static func looksLikeDisco(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= headerLength && bytes.hasPrefix(magic)
    }
}

/// A disco message type (`disco.go`, `MessageType`).
public enum DiscoMessageType: UInt8, Sendable {
    case ping = 0x01
    case pong = 0x02
    case callMeMaybe = 0x03
}

/// The 12-byte random transaction ID that pairs a pong with its ping.
public struct DiscoTransactionID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt32

    public init(high: UInt64, low: UInt32) {
        self.high = high
        self.low = low
    }

    public var description: String { String(high, radix: 16) + String(low, radix: 16) }
}

/// Why a disco packet was not accepted. Each is counted and the packet dropped.
public enum DiscoError: Error, Equatable, Sendable {
    /// Not a disco packet at all (no magic, or shorter than the header).
    case notDisco
    /// Longer than ``DiscoProtocol/maxPacketLength``.
    case tooLong(Int)
    /// From a disco key that belongs to no peer.
    case unknownSender
    /// The box did not open with the sender's key.
    case badBox
    /// The plaintext is shorter than its type needs.
    case short(DiscoMessageType?)
    /// A message type this version does not know (relay-endpoint messages among them).
    case unknownType(UInt8)
}

/// A disco message (the plaintext inside the box: `type | version | payload`, `disco.go`).
public enum DiscoMessage: Equatable, Sendable {
    /// A probe; `nodeKey` is the sender's WireGuard key (absent from clients before 1.16).
    case ping(DiscoTransactionID, nodeKey: PublicKey?)
    /// The answer to a ping, with the source endpoint the ping came from (a STUN-like reflection).
    case pong(DiscoTransactionID, source: IPEndpoint)
    /// Sent over DERP: the sender's endpoints, "ping me there".
    case callMeMaybe([IPEndpoint])

    /// Parses a plaintext. Lax about trailing bytes, as `disco.go` is, for future versions.
    public init(parsing plaintext: UnsafeRawBufferPointer) throws(DiscoError) {
        guard plaintext.count >= 2 else { throw .short(nil) }
        guard let type = DiscoMessageType(rawValue: plaintext[0]) else { throw .unknownType(plaintext[0]) }
        let version = plaintext[1]
        let payload = plaintext.slice(2, plaintext.count)
        switch type {
        case .ping:
            guard payload.count >= 12 else { throw .short(.ping) }
            let key = payload.count >= 12 + 32 ? payload.publicKey(at: 12) : nil
            self = .ping(Self.transactionID(payload), nodeKey: key.flatMap { $0.key.isZero ? nil : $0 })
        case .pong:
            guard payload.count >= 12 + DiscoProtocol.endpointLength else { throw .short(.pong) }
            self = .pong(Self.transactionID(payload), source: Self.endpoint(payload, at: 12))
        case .callMeMaybe:
            // disco.go: a length that is not a whole number of endpoints, or another version, is an
            // empty list, not an error.
            var endpoints: [IPEndpoint] = []
            let length = DiscoProtocol.endpointLength
            if version == DiscoProtocol.version, payload.count % length == 0 {
                endpoints.reserveCapacity(payload.count / length)
                for offset in stride(from: 0, to: payload.count, by: length) {
                    endpoints.append(Self.endpoint(payload, at: offset))
                }
            }
            self = .callMeMaybe(endpoints)
        }
    }

    /// The plaintext of the message; a ping is padded with `padding` zero bytes (path-MTU probes).
    public func serialized(padding: Int = 0) -> [UInt8] {
        var out: [UInt8] = []
        switch self {
        case let .ping(id, nodeKey):
            out = [DiscoMessageType.ping.rawValue, DiscoProtocol.version]
            Self.append(id, to: &out)
            if let nodeKey { out.append(nodeKey) }
            out.append(contentsOf: repeatElement(0, count: max(0, padding)))
        case let .pong(id, source):
            out = [DiscoMessageType.pong.rawValue, DiscoProtocol.version]
            Self.append(id, to: &out)
            Self.append(source, to: &out)
        case let .callMeMaybe(endpoints):
            out = [DiscoMessageType.callMeMaybe.rawValue, DiscoProtocol.version]
            for endpoint in endpoints { Self.append(endpoint, to: &out) }
        }
        return out
    }

    private static func transactionID(_ bytes: UnsafeRawBufferPointer) -> DiscoTransactionID {
        DiscoTransactionID(high: bytes.bigEndianUInt64(at: 0), low: bytes.bigEndianUInt32(at: 8))
    }

    private static func append(_ id: DiscoTransactionID, to out: inout [UInt8]) {
        out.appendBigEndian(UInt32(truncatingIfNeeded: id.high >> 32))
        out.appendBigEndian(UInt32(truncatingIfNeeded: id.high))
        out.appendBigEndian(id.low)
    }

    /// A 16-byte address (IPv4-mapped for IPv4, unmapped as `netip.Addr.Unmap` does) and a port.
    private static func endpoint(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> IPEndpoint {
        let high = bytes.bigEndianUInt64(at: offset)
        let low = bytes.bigEndianUInt64(at: offset + 8)
        let port = bytes.bigEndianUInt16(at: offset + 16)
        if high == 0, low >> 32 == 0xFFFF {
            return IPEndpoint(.v4(IPv4Address(rawValue: UInt32(truncatingIfNeeded: low))), port)
        }
        return IPEndpoint(.v6(IPv6Address(high: high, low: low)), port)
    }

    private static func append(_ endpoint: IPEndpoint, to out: inout [UInt8]) {
        let (high, low): (UInt64, UInt64)
        switch endpoint.address {
        case .v4(let v4): (high, low) = (0, 0xFFFF_0000_0000 | UInt64(v4.rawValue))
        case .v6(let v6): (high, low) = (v6.high, v6.low)
        }
        for word in [high, low] {
            out.appendBigEndian(UInt32(truncatingIfNeeded: word >> 32))
            out.appendBigEndian(UInt32(truncatingIfNeeded: word))
        }
        out.append(UInt8(endpoint.port >> 8))
        out.append(UInt8(endpoint.port & 0xFF))
    }
}
