/// An ICMPv6 message as fields (RFC 4443): echo and the four error messages.
/// Build with ``emit(into:source:destination:)`` (the checksum covers the IPv6 pseudo-header,
/// §2.3); parse from an ``ICMPv6Message`` with ``init(_:)``.
///
/// The payload (echo data or invoking packet) is a view of a caller-owned buffer that `emit` copies
/// after the header (`memmove`). Trim an invoking packet to ``maximumInvokingPacketLength`` so the
/// error fits the IPv6 minimum MTU (RFC 4443 §2.4(c)).
public enum ICMPv6: Equatable {
    case echoRequest(identifier: UInt16, sequenceNumber: UInt16, data: UnsafeRawBufferPointer)
    case echoReply(identifier: UInt16, sequenceNumber: UInt16, data: UnsafeRawBufferPointer)
    /// Type 1 (RFC 4443 §3.1).
    case destinationUnreachable(UnreachableCode, invokingPacket: UnsafeRawBufferPointer)
    /// Type 2 (RFC 4443 §3.2).
    case packetTooBig(mtu: UInt32, invokingPacket: UnsafeRawBufferPointer)
    /// Type 3 (RFC 4443 §3.3).
    case timeExceeded(TimeExceededCode, invokingPacket: UnsafeRawBufferPointer)
    /// Type 4 (RFC 4443 §3.4).
    case parameterProblem(ParameterProblemCode, pointer: UInt32, invokingPacket: UnsafeRawBufferPointer)

    /// Destination-unreachable codes (RFC 4443 §3.1).
    public struct UnreachableCode: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let noRoute = UnreachableCode(rawValue: 0)
        public static let administrativelyProhibited = UnreachableCode(rawValue: 1)
        public static let beyondScope = UnreachableCode(rawValue: 2)
        public static let addressUnreachable = UnreachableCode(rawValue: 3)
        public static let portUnreachable = UnreachableCode(rawValue: 4)
        public static let sourcePolicyFailed = UnreachableCode(rawValue: 5)
        public static let rejectRoute = UnreachableCode(rawValue: 6)
    }

    /// Time-exceeded codes (RFC 4443 §3.3).
    public struct TimeExceededCode: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let hopLimitExceeded = TimeExceededCode(rawValue: 0)
        public static let reassemblyTimeExceeded = TimeExceededCode(rawValue: 1)
    }

    /// Parameter-problem codes (RFC 4443 §3.4).
    public struct ParameterProblemCode: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let erroneousHeaderField = ParameterProblemCode(rawValue: 0)
        public static let unrecognizedNextHeader = ParameterProblemCode(rawValue: 1)
        public static let unrecognizedOption = ParameterProblemCode(rawValue: 2)
    }

    /// Invoking-packet bytes that keep an error within the IPv6 minimum MTU: 1280 - 40 - 8
    /// (RFC 8200 §5, RFC 4443 §2.4(c)).
    public static let maximumInvokingPacketLength = 1232

    /// The message fields of a parsed message.
    /// - Throws: ``WireError/unsupportedMessageType(_:type:code:)`` for other types (e.g. NDP).
    public init(_ message: ICMPv6Message) throws(WireError) {
        switch message.type {
        case .echoRequest:
            self = .echoRequest(identifier: message.identifier, sequenceNumber: message.sequenceNumber, data: message.data)
        case .echoReply:
            self = .echoReply(identifier: message.identifier, sequenceNumber: message.sequenceNumber, data: message.data)
        case .destinationUnreachable:
            self = .destinationUnreachable(UnreachableCode(rawValue: message.code), invokingPacket: message.invokingPacket)
        case .packetTooBig:
            self = .packetTooBig(mtu: message.mtu, invokingPacket: message.invokingPacket)
        case .timeExceeded:
            self = .timeExceeded(TimeExceededCode(rawValue: message.code), invokingPacket: message.invokingPacket)
        case .parameterProblem:
            self = .parameterProblem(
                ParameterProblemCode(rawValue: message.code), pointer: message.pointer,
                invokingPacket: message.invokingPacket)
        default:
            throw .unsupportedMessageType(.icmpv6, type: message.type.rawValue, code: message.code)
        }
    }

    /// The message type.
    public var type: ICMPv6Type {
        switch self {
        case .echoRequest: return .echoRequest
        case .echoReply: return .echoReply
        case .destinationUnreachable: return .destinationUnreachable
        case .packetTooBig: return .packetTooBig
        case .timeExceeded: return .timeExceeded
        case .parameterProblem: return .parameterProblem
        }
    }

    /// The echo data or invoking packet.
    public var body: UnsafeRawBufferPointer {
        switch self {
        case let .echoRequest(_, _, data), let .echoReply(_, _, data): return data
        case let .destinationUnreachable(_, packet), let .packetTooBig(_, packet), let .timeExceeded(_, packet),
             let .parameterProblem(_, _, packet):
            return packet
        }
    }

    /// Bytes `emit` writes: 8 plus the body.
    public var length: Int { ICMPv6Message.headerLength + body.count }

    /// Writes the message at the start of `buffer` with the checksum over the IPv6 pseudo-header and
    /// returns ``length``.
    /// - Throws: ``WireError/bufferTooSmall(_:needed:available:)``.
    @discardableResult
    public func emit(into buffer: UnsafeMutableRawBufferPointer, source: IPv6Address, destination: IPv6Address) throws(WireError) -> Int {
        let length = length
        guard buffer.count >= length else { throw .bufferTooSmall(.icmpv6, needed: length, available: buffer.count) }
        // Copy the body first: when replying in place its source may overlap the header bytes.
        buffer.copy(body, to: ICMPv6Message.headerLength)
        buffer.storeByte(type.rawValue, at: 0)
        switch self {
        case let .echoRequest(identifier, sequenceNumber, _), let .echoReply(identifier, sequenceNumber, _):
            buffer.storeByte(0, at: 1)
            buffer.storeBigEndian(identifier, at: 4)
            buffer.storeBigEndian(sequenceNumber, at: 6)
        case let .destinationUnreachable(code, _):
            buffer.storeByte(code.rawValue, at: 1)
            buffer.storeBigEndian(UInt32(0), at: 4)
        case let .packetTooBig(mtu, _):
            buffer.storeByte(0, at: 1)
            buffer.storeBigEndian(mtu, at: 4)
        case let .timeExceeded(code, _):
            buffer.storeByte(code.rawValue, at: 1)
            buffer.storeBigEndian(UInt32(0), at: 4)
        case let .parameterProblem(code, pointer, _):
            buffer.storeByte(code.rawValue, at: 1)
            buffer.storeBigEndian(pointer, at: 4)
        }
        buffer.storeBigEndian(UInt16(0), at: 2)
        var sum = Checksum.pseudoHeader(source: source, destination: destination, protocol: .icmpv6, length: length)
        sum.add(UnsafeRawBufferPointer(rebasing: buffer.readOnly[0..<length]))
        buffer.storeBigEndian(sum.checksum, at: 2)
        return length
    }

    /// Equal when the fields are equal and the bodies hold the same bytes.
    public static func == (lhs: ICMPv6, rhs: ICMPv6) -> Bool {
        switch (lhs, rhs) {
        case let (.echoRequest(a, b, x), .echoRequest(c, d, y)), let (.echoReply(a, b, x), .echoReply(c, d, y)):
            return a == c && b == d && x.elementsEqual(y)
        case let (.destinationUnreachable(a, x), .destinationUnreachable(c, y)):
            return a == c && x.elementsEqual(y)
        case let (.packetTooBig(a, x), .packetTooBig(c, y)):
            return a == c && x.elementsEqual(y)
        case let (.timeExceeded(a, x), .timeExceeded(c, y)):
            return a == c && x.elementsEqual(y)
        case let (.parameterProblem(a, b, x), .parameterProblem(c, d, y)):
            return a == c && b == d && x.elementsEqual(y)
        default:
            return false
        }
    }
}
