/// The TCP control bits (RFC 9293 §3.1), including the ECN bits of RFC 3168 §6.1 and the AE bit
/// of Accurate ECN (the former NS bit, RFC 3540, now historic).
public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    @inlinable
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 1 << 0)
    public static let syn = TCPFlags(rawValue: 1 << 1)
    public static let rst = TCPFlags(rawValue: 1 << 2)
    public static let psh = TCPFlags(rawValue: 1 << 3)
    public static let ack = TCPFlags(rawValue: 1 << 4)
    public static let urg = TCPFlags(rawValue: 1 << 5)
    /// ECN-Echo (RFC 3168 §6.1).
    public static let ece = TCPFlags(rawValue: 1 << 6)
    /// Congestion Window Reduced (RFC 3168 §6.1).
    public static let cwr = TCPFlags(rawValue: 1 << 7)
    /// Accurate ECN (bit 7 of byte 12; formerly NS, RFC 3540).
    public static let ae = TCPFlags(rawValue: 1 << 8)

    /// All bits the header can carry.
    public static let all = TCPFlags(rawValue: 0x1FF)

    public var description: String {
        let names: [(TCPFlags, String)] = [
            (.syn, "SYN"), (.fin, "FIN"), (.rst, "RST"), (.psh, "PSH"), (.ack, "ACK"), (.urg, "URG"),
            (.ece, "ECE"), (.cwr, "CWR"), (.ae, "AE"),
        ]
        let set = names.filter { contains($0.0) }.map(\.1)
        return set.isEmpty ? "[]" : "[" + set.joined(separator: ",") + "]"
    }
}
