import Wire

/// The control bits of a TCP header (RFC 9293 §3.1).
public struct TCPControlBits: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let fin = TCPControlBits(rawValue: 0x01)
    public static let syn = TCPControlBits(rawValue: 0x02)
    public static let rst = TCPControlBits(rawValue: 0x04)
    public static let psh = TCPControlBits(rawValue: 0x08)
    public static let ack = TCPControlBits(rawValue: 0x10)
    public static let urg = TCPControlBits(rawValue: 0x20)

    public var description: String {
        var parts: [String] = []
        if contains(.syn) { parts.append("SYN") }
        if contains(.fin) { parts.append("FIN") }
        if contains(.rst) { parts.append("RST") }
        if contains(.psh) { parts.append("PSH") }
        if contains(.ack) { parts.append("ACK") }
        if contains(.urg) { parts.append("URG") }
        return parts.joined(separator: ",")
    }
}

/// What the TCP state machine reads from and writes into a segment's header: the RFC 9293 SEG.*
/// variables plus the options this stack negotiates.
///
/// It carries no bytes: incoming payloads are passed next to it, outgoing payloads are copied out of the
/// send buffer by sequence number (`TCPConnection.copyPayload(of:into:)`). Ports and addresses belong to
/// the layer that demultiplexes segments to connections.
public struct TCPSegmentHeader: Hashable, Sendable, CustomStringConvertible {
    /// SEG.SEQ
    public var seq: SequenceNumber
    /// SEG.ACK (meaningful when `.ack` is in `control`).
    public var ack: SequenceNumber
    public var control: TCPControlBits
    /// The 16-bit window field as on the wire (unscaled).
    public var window: UInt16
    /// Number of payload octets.
    public var payloadLength: Int
    /// Maximum segment size option (RFC 9293 §3.7.1), only on SYNs.
    public var maxSegmentSize: UInt16?
    /// Window scale shift option (RFC 7323 §2), only on SYNs.
    public var windowScale: UInt8?
    /// SACK-permitted option (RFC 2018), only on SYNs.
    public var sackPermitted: Bool
    /// Timestamps option (RFC 7323 §3).
    public var timestamps: TCPTimestamps?
    /// SACK blocks (RFC 2018 §3; the first may be a D-SACK, RFC 2883).
    public var sackBlocks: TCPSACKBlocks

    public init(
        seq: SequenceNumber, ack: SequenceNumber = SequenceNumber(0), control: TCPControlBits,
        window: UInt16 = 0, payloadLength: Int = 0, maxSegmentSize: UInt16? = nil,
        windowScale: UInt8? = nil, sackPermitted: Bool = false, timestamps: TCPTimestamps? = nil,
        sackBlocks: TCPSACKBlocks = []
    ) {
        self.seq = seq
        self.ack = ack
        self.control = control
        self.window = window
        self.payloadLength = payloadLength
        self.maxSegmentSize = maxSegmentSize
        self.windowScale = windowScale
        self.sackPermitted = sackPermitted
        self.timestamps = timestamps
        self.sackBlocks = sackBlocks
    }

    /// SEG.LEN: payload octets plus one for each of SYN and FIN (RFC 9293 §3.4).
    public var sequenceLength: Int {
        payloadLength + (control.contains(.syn) ? 1 : 0) + (control.contains(.fin) ? 1 : 0)
    }

    /// Bytes the options need on the wire, padded to 4 (RFC 9293 §3.1 "Options").
    public var optionsLength: Int {
        var n = 0
        if maxSegmentSize != nil { n += 4 }
        if windowScale != nil { n += 3 }
        if sackPermitted { n += 2 }
        if timestamps != nil { n += 10 }
        if !sackBlocks.isEmpty { n += 2 + 8 * sackBlocks.count }
        return (n + 3) & ~3
    }

    public var description: String {
        var s = "<SEQ=\(seq)>"
        if control.contains(.ack) { s += "<ACK=\(ack)>" }
        s += "<CTL=\(control)><WND=\(window)>"
        if payloadLength > 0 { s += "<LEN=\(payloadLength)>" }
        if let mss = maxSegmentSize { s += "<MSS=\(mss)>" }
        if let ws = windowScale { s += "<WS=\(ws)>" }
        if sackPermitted { s += "<SACKOK>" }
        if let ts = timestamps { s += "<TS=\(ts.value),\(ts.echoReply)>" }
        if !sackBlocks.isEmpty { s += "<SACK=" + sackBlocks.map { "\($0.left)-\($0.right)" }.joined(separator: ",") + ">" }
        return s
    }
}
