/// An ICMPv4 message as fields (RFC 792): echo, and the error messages a host or router sends.
/// Build with ``emit(into:)``; parse from an ``ICMPv4Message`` with ``init(_:)``.
///
/// The payload (echo data or invoking packet) is a view of a caller-owned buffer; `emit` copies it
/// after the header (`memmove`, so replying in place is fine). Trim an invoking packet yourself to
/// what fits: RFC 1812 §4.3.2.3 asks for as much as keeps the error within 576 bytes
/// (``maximumInvokingPacketLength``).
///
/// ```swift
/// let request = try ICMPv4Message(validating: ip.payload)
/// if case let .echoRequest(id, seq, data) = try ICMPv4(request) {
///     let length = try ICMPv4.echoReply(identifier: id, sequenceNumber: seq, data: data).emit(into: out)
/// }
/// ```
public enum ICMPv4: Equatable {
    case echoRequest(identifier: UInt16, sequenceNumber: UInt16, data: UnsafeRawBufferPointer)
    case echoReply(identifier: UInt16, sequenceNumber: UInt16, data: UnsafeRawBufferPointer)
    /// Type 3. `nextHopMTU` is sent for ``UnreachableCode/fragmentationNeeded`` (RFC 1191 §4), else 0.
    case destinationUnreachable(UnreachableCode, nextHopMTU: UInt16, invokingPacket: UnsafeRawBufferPointer)
    /// Type 11.
    case timeExceeded(TimeExceededCode, invokingPacket: UnsafeRawBufferPointer)
    /// Type 12, code 0: `pointer` is the offset of the offending octet in the invoking packet.
    case parameterProblem(pointer: UInt8, invokingPacket: UnsafeRawBufferPointer)

    /// Destination-unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
    public struct UnreachableCode: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let networkUnreachable = UnreachableCode(rawValue: 0)
        public static let hostUnreachable = UnreachableCode(rawValue: 1)
        public static let protocolUnreachable = UnreachableCode(rawValue: 2)
        public static let portUnreachable = UnreachableCode(rawValue: 3)
        public static let fragmentationNeeded = UnreachableCode(rawValue: 4)
        public static let sourceRouteFailed = UnreachableCode(rawValue: 5)
        public static let administrativelyProhibited = UnreachableCode(rawValue: 13)
    }

    /// Time-exceeded codes (RFC 792).
    public struct TimeExceededCode: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let timeToLiveExceeded = TimeExceededCode(rawValue: 0)
        public static let reassemblyTimeExceeded = TimeExceededCode(rawValue: 1)
    }

    /// The largest ICMPv4 error datagram RFC 1812 §4.3.2.3 allows.
    public static let maximumErrorDatagramLength = 576
    /// Invoking-packet bytes that keep an error within 576 bytes (576 - 20 IP - 8 ICMP).
    public static let maximumInvokingPacketLength = 548

    /// The message fields of a parsed message.
    /// - Throws: ``WireError/unsupportedMessageType(_:type:code:)`` for types other than echo,
    ///   destination unreachable, time exceeded and parameter problem.
    public init(_ message: ICMPv4Message) throws(WireError) {
        switch message.type {
        case .echoRequest:
            self = .echoRequest(identifier: message.identifier, sequenceNumber: message.sequenceNumber, data: message.data)
        case .echoReply:
            self = .echoReply(identifier: message.identifier, sequenceNumber: message.sequenceNumber, data: message.data)
        case .destinationUnreachable:
            self = .destinationUnreachable(
                UnreachableCode(rawValue: message.code), nextHopMTU: message.nextHopMTU,
                invokingPacket: message.invokingPacket)
        case .timeExceeded:
            self = .timeExceeded(TimeExceededCode(rawValue: message.code), invokingPacket: message.invokingPacket)
        case .parameterProblem:
            self = .parameterProblem(pointer: message.pointer, invokingPacket: message.invokingPacket)
        default:
            throw .unsupportedMessageType(.icmpv4, type: message.type.rawValue, code: message.code)
        }
    }

    /// The message type.
    public var type: ICMPv4Type {
        switch self {
        case .echoRequest: return .echoRequest
        case .echoReply: return .echoReply
        case .destinationUnreachable: return .destinationUnreachable
        case .timeExceeded: return .timeExceeded
        case .parameterProblem: return .parameterProblem
        }
    }

    /// The echo data or invoking packet.
    public var body: UnsafeRawBufferPointer {
        switch self {
        case let .echoRequest(_, _, data), let .echoReply(_, _, data): return data
        case let .destinationUnreachable(_, _, packet), let .timeExceeded(_, packet), let .parameterProblem(_, packet):
            return packet
        }
    }

    /// Bytes ``emit(into:)`` writes: 8 plus the body.
    public var length: Int { ICMPv4Message.headerLength + body.count }

    /// Writes the message at the start of `buffer`, checksum included, and returns ``length``.
    /// - Throws: ``WireError/bufferTooSmall(_:needed:available:)``.
    @discardableResult
    public func emit(into buffer: UnsafeMutableRawBufferPointer) throws(WireError) -> Int {
        let length = length
        guard buffer.count >= length else { throw .bufferTooSmall(.icmpv4, needed: length, available: buffer.count) }
        let body = body
        // Copy the body first: when replying in place its source may overlap the header bytes.
        buffer.copy(body, to: ICMPv4Message.headerLength)
        buffer.storeByte(type.rawValue, at: 0)
        switch self {
        case let .echoRequest(identifier, sequenceNumber, _), let .echoReply(identifier, sequenceNumber, _):
            buffer.storeByte(0, at: 1)
            buffer.storeBigEndian(identifier, at: 4)
            buffer.storeBigEndian(sequenceNumber, at: 6)
        case let .destinationUnreachable(code, nextHopMTU, _):
            buffer.storeByte(code.rawValue, at: 1)
            buffer.storeBigEndian(UInt16(0), at: 4)
            buffer.storeBigEndian(nextHopMTU, at: 6)
        case let .timeExceeded(code, _):
            buffer.storeByte(code.rawValue, at: 1)
            buffer.storeBigEndian(UInt32(0), at: 4)
        case let .parameterProblem(pointer, _):
            buffer.storeByte(0, at: 1)
            buffer.storeBigEndian(UInt32(pointer) << 24, at: 4)
        }
        buffer.storeBigEndian(UInt16(0), at: 2)
        let message = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
        buffer.storeBigEndian(Checksum.compute(message.readOnly), at: 2)
        return length
    }

    /// Equal when the fields are equal and the bodies hold the same bytes.
    public static func == (lhs: ICMPv4, rhs: ICMPv4) -> Bool {
        switch (lhs, rhs) {
        case let (.echoRequest(a, b, x), .echoRequest(c, d, y)), let (.echoReply(a, b, x), .echoReply(c, d, y)):
            return a == c && b == d && x.elementsEqual(y)
        case let (.destinationUnreachable(a, b, x), .destinationUnreachable(c, d, y)):
            return a == c && b == d && x.elementsEqual(y)
        case let (.timeExceeded(a, x), .timeExceeded(c, y)):
            return a == c && x.elementsEqual(y)
        case let (.parameterProblem(a, x), .parameterProblem(c, y)):
            return a == c && x.elementsEqual(y)
        default:
            return false
        }
    }
}
