/// Why a packet could not be parsed or built.
///
/// Every view's `init(validating:)` and every builder's `emit` throws one of these; no parser traps on
/// malformed input. Each case names the protocol layer (``WireError/Layer``) and the numbers a person
/// needs to see what went wrong (``description`` spells them out).
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The protocol layer an error refers to.
    public enum Layer: String, Sendable, Equatable, CustomStringConvertible {
        case ipv4 = "IPv4"
        case ipv6 = "IPv6"
        case ipv6ExtensionHeader = "IPv6 extension header"
        case udp = "UDP"
        case tcp = "TCP"
        case icmpv4 = "ICMPv4"
        case icmpv6 = "ICMPv6"

        public var description: String { rawValue }
    }

    /// The buffer ends before the header or a field the header declares.
    case truncated(Layer, needed: Int, available: Int)
    /// The IP version nibble is not the one the view parses.
    case unsupportedVersion(Layer, found: UInt8)
    /// A header-length field (IPv4 IHL, TCP data offset) is below the minimum. (A header length
    /// past the end of the buffer is ``truncated(_:needed:available:)``.)
    case badHeaderLength(Layer, headerLength: Int, minimum: Int)
    /// A total-length field (IPv4 total length, UDP length) is smaller than the header it covers.
    case badTotalLength(Layer, declared: Int, minimum: Int)
    /// The IPv6 payload-length field disagrees with the buffer, or is zero (jumbogram, unsupported).
    case badPayloadLength(Layer, declared: Int, available: Int)
    /// A checksum did not verify.
    case badChecksum(Layer)
    /// An option (TCP option, IPv6 option TLV) has an impossible length or does not fit its area.
    case malformedOption(Layer, kind: UInt8, offset: Int)
    /// An extension header appears where RFC 8200 §4.1 forbids it (hop-by-hop not first).
    case misplacedExtensionHeader(IPProtocol, index: Int)
    /// More IPv6 extension headers than ``IPv6Packet/maximumExtensionHeaders``.
    case tooManyExtensionHeaders(limit: Int)
    /// The message type is not one this view or builder handles.
    case unsupportedMessageType(Layer, type: UInt8, code: UInt8)
    /// A builder was given a buffer that is too small for what it must write.
    case bufferTooSmall(Layer, needed: Int, available: Int)
    /// A builder was given a field value that the wire format cannot carry.
    case fieldOutOfRange(Layer, field: String, value: Int, maximum: Int)

    public var description: String {
        switch self {
        case let .truncated(layer, needed, available):
            return "\(layer) packet truncated: needs \(needed) bytes, buffer has \(available)"
        case let .unsupportedVersion(layer, found):
            return "\(layer) view got IP version \(found); check which parser the packet was routed to"
        case let .badHeaderLength(layer, headerLength, minimum):
            return "\(layer) header length field says \(headerLength) bytes, below the \(minimum)-byte minimum"
        case let .badTotalLength(layer, declared, minimum):
            return "\(layer) length field says \(declared) bytes, less than the \(minimum)-byte header it includes"
        case let .badPayloadLength(layer, declared, available):
            return "\(layer) payload length \(declared) does not fit the \(available) bytes after the header"
                + (declared == 0 ? " (zero: jumbograms are not supported)" : "")
        case let .badChecksum(layer):
            return "\(layer) checksum does not verify; the packet was corrupted or built with the wrong pseudo-header"
        case let .malformedOption(layer, kind, offset):
            return "\(layer) option kind \(kind) at option offset \(offset) has an invalid length or overruns the option area"
        case let .misplacedExtensionHeader(header, index):
            return "IPv6 extension header \(header) at position \(index) is only allowed first (RFC 8200 §4.1)"
        case let .tooManyExtensionHeaders(limit):
            return "IPv6 extension header chain longer than \(limit) headers; dropped as a likely attack"
        case let .unsupportedMessageType(layer, type, code):
            return "\(layer) message type \(type) code \(code) is not handled here"
        case let .bufferTooSmall(layer, needed, available):
            return "\(layer) builder needs \(needed) bytes, buffer has \(available); reserve more room"
        case let .fieldOutOfRange(layer, field, value, maximum):
            return "\(layer) field \(field) = \(value) exceeds the wire format's maximum \(maximum)"
        }
    }
}
