@testable import NetStack
import Wire

let peerAddress = IPv4Address(100, 64, 7, 1)
let stackAddress = IPv4Address(100, 64, 7, 2)
let listenPort: UInt16 = 80
let peerPort: UInt16 = 40000

/// The fuzzer's side of one connection to the stack's listener: it builds segments with valid
/// checksums whose sequence numbers are chosen relative to what it has seen (so the fuzzer reaches the
/// state machine instead of the window check), and checks every packet the stack sends it:
/// - valid IPv4 and TCP checksums, no larger than the MTU;
/// - data at stream offset `k` is `applicationByte(k)`, and only what the application wrote;
/// - a FIN only at the end of what the application wrote, after it shut down or closed;
/// - an acknowledgment only of bytes the peer sent (the range from offset 0) and its FIN.
struct Peer {
    let iss: UInt32
    /// Options the peer offered in its SYN.
    let offeredTimestamps: Bool
    let offeredSACK: Bool

    // What the stack told us.
    var stackISS: UInt32? = nil
    /// Highest sequence number the stack has sent plus one (SND.MAX), as an absolute number.
    var stackSendMax: UInt32 = 0
    /// RCV.NXT as the stack last acknowledged it, as an offset in the peer's stream.
    var stackAcknowledged = 0
    var stackTimestamp: UInt32 = 0
    var timestampsAgreed = false
    /// The stack started a new connection on the same ports (after a reset): its sequence numbers are
    /// no longer those of the connection the model describes, so the stream checks stop.
    var newIncarnation = false
    /// The stack sent a reset on the connection's ports: what it says with a SYN after that is not
    /// about the first connection.
    var stackSentReset = false
    /// We sent a reset the stack accepts (exactly at RCV.NXT): a SYN-ACK after that answers a new SYN
    /// of ours and starts a new connection, whatever its numbers.
    var peerResetConnection = false

    // What we sent.
    var sent = SentRanges()
    /// Highest stream offset sent plus one.
    var next = 0
    /// Stream offsets at which we sent a FIN.
    var finOffsets: [Int] = []
    var timestampClock: UInt32 = 1000
    var lastAcknowledgmentSent: UInt32 = 0

    // What the application did.
    var applicationWritten = 0
    var applicationShutDown = false

    init(iss: UInt32, offeredTimestamps: Bool, offeredSACK: Bool) {
        self.iss = iss
        self.offeredTimestamps = offeredTimestamps
        self.offeredSACK = offeredSACK
    }

    /// Sequence number of stream offset `offset` (offset 0 is the byte after our SYN).
    func sequence(ofOffset offset: Int) -> UInt32 { iss &+ 1 &+ UInt32(truncatingIfNeeded: offset) }

    func offset(ofSequence sequence: UInt32) -> Int { Int(Int32(bitPattern: sequence &- (iss &+ 1))) }

    /// Options for a segment after the handshake: a timestamp when both sides agreed to them.
    mutating func options(sackBlocks: TCPSACKBlocks = []) -> TCPOptions {
        var options = TCPOptions(sackBlocks: sackBlocks)
        if timestampsAgreed {
            timestampClock &+= 1
            options.timestamps = TCPTimestamps(value: timestampClock, echoReply: stackTimestamp)
        }
        return options
    }

    /// Builds a segment to the listener and hands it to `stack`. Payload bytes are the peer stream's
    /// bytes at their sequence numbers (the first after a SYN's own number).
    mutating func send(
        to stack: IPStack, now: NetInstant, sourcePort: UInt16 = peerPort, sequence: UInt32,
        acknowledgment: UInt32, flags: TCPFlags, window: UInt16 = 65535, urgentPointer: UInt16 = 0,
        options: TCPOptions, payloadLength: Int, packet: inout [UInt8]
    ) {
        let header = TCPHeader(
            sourcePort: sourcePort, destinationPort: listenPort, sequenceNumber: sequence,
            acknowledgmentNumber: acknowledgment, flags: flags, window: window, urgentPointer: urgentPointer,
            options: options)
        let dataSequence = flags.contains(.syn) ? sequence &+ 1 : sequence
        let start = offset(ofSequence: dataSequence)
        let length = Swift.min(payloadLength, packet.count - 20 - header.length)
        let total = 20 + header.length + length
        let emitted: Bool = packet.withUnsafeMutableBytes { raw in
            peerStream.copy(from: start, count: length, into: raw.baseAddress! + 20 + header.length)
            let segment = UnsafeMutableRawBufferPointer(rebasing: raw[20..<total])
            do {
                try header.emit(into: segment, source: peerAddress, destination: stackAddress)
                try IPv4Header(source: peerAddress, destination: stackAddress, protocol: .tcp, payloadLength: total - 20)
                    .emit(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<total]))
                return true
            } catch {
                return false
            }
        }
        guard emitted else { return }
        if traceRuns {
            trace("peer -> stack: \(flags) offset \(start) length \(length) ack \(acknowledgment &- (stackISS ?? 0)) window \(window)")
        }
        if sourcePort == peerPort {
            sent.insert(start: Swift.max(start, 0), end: start + length)
            if start + length > next { next = start + length }
            if flags.contains(.fin) { finOffsets.append(start + length) }
            if flags.contains(.ack) { lastAcknowledgmentSent = acknowledgment }
        }
        packet.withUnsafeBytes { stack.receive(UnsafeRawBufferPointer(rebasing: $0[0..<total]), now: now) }
    }

    /// Checks one packet the stack sent and learns from it.
    mutating func observe(_ bytes: UnsafeRawBufferPointer, mtu: Int) {
        precondition(bytes.count <= mtu, "a packet of \(bytes.count) bytes exceeds the MTU \(mtu)")
        guard let ip = try? IPv4Packet(validating: bytes) else { preconditionFailure("stack sent an invalid IPv4 packet") }
        precondition(ip.isHeaderChecksumValid, "IPv4 header checksum")
        guard ip.protocol == .tcp else { return }
        guard let tcp = try? TCPSegment(validating: ip.payload) else { preconditionFailure("stack sent an invalid TCP segment") }
        precondition(tcp.isChecksumValid(source: ip.source, destination: ip.destination), "TCP checksum")
        guard tcp.destinationPort == peerPort, tcp.sourcePort == listenPort else { return }
        let flags = tcp.flags
        if traceRuns {
            trace("stack -> peer: \(flags) seq \(tcp.sequenceNumber &- (stackISS ?? 0)) length \(tcp.payload.count) "
                + "ack offset \(offset(ofSequence: tcp.acknowledgmentNumber)) window \(tcp.window)")
        }
        // A reset carries no data and may acknowledge whatever segment provoked it (RFC 9293 §3.10.7.1).
        if flags.contains(.rst) {
            stackSentReset = true
            return
        }
        if flags.contains(.syn) {
            if stackISS == nil {
                stackISS = tcp.sequenceNumber
                stackSendMax = tcp.sequenceNumber &+ 1
                timestampsAgreed = offeredTimestamps && tcp.options.timestamps != nil
            } else if stackSentReset || peerResetConnection || tcp.sequenceNumber != stackISS
                || tcp.acknowledgmentNumber != iss &+ 1 {
                // A SYN of ours reached the listener after the first connection ended. Its ISS can equal
                // the first one's (RFC 6528 ISNs of one 4-tuple differ only as time passes), so a SYN
                // after the stack reset the ports counts as new whatever its numbers (found by the long
                // run of 2026-12-02: the harness then closed that connection, and its FIN failed the
                // first connection's checks; input kept as regression-same-iss-after-reset). The same
                // holds after our own exact reset ended the first connection (the long run of the same
                // day; regression-same-iss-after-peer-reset).
                newIncarnation = true
            }
        }
        if let ts = tcp.options.timestamps { stackTimestamp = ts.value }
        guard let stackISS, !newIncarnation else { return }

        let dataSequence = flags.contains(.syn) ? tcp.sequenceNumber &+ 1 : tcp.sequenceNumber
        let start = Int(Int32(bitPattern: dataSequence &- (stackISS &+ 1)))
        let length = tcp.payload.count
        if length > 0 {
            precondition(start >= 0 && start + length <= applicationWritten,
                "stack sent offsets \(start)..<\(start + length), application wrote \(applicationWritten)")
            if let wrong = applicationStream.firstMismatch(tcp.payload, at: start) {
                preconditionFailure("sent byte at offset \(wrong) corrupted")
            }
        }
        if flags.contains(.fin) {
            precondition(applicationShutDown && start + length == applicationWritten,
                "FIN at offset \(start + length), application wrote \(applicationWritten), shut down: \(applicationShutDown)")
        }
        let end = dataSequence &+ UInt32(length) &+ (flags.contains(.fin) ? 1 : 0)
        if Int32(bitPattern: end &- stackSendMax) > 0 { stackSendMax = end }
        if flags.contains(.ack) {
            let acknowledged = offset(ofSequence: tcp.acknowledgmentNumber)
            let limit = sent.contiguousEnd + (finOffsets.contains(sent.contiguousEnd) ? 1 : 0)
            precondition(acknowledged >= 0 && acknowledged <= limit,
                "stack acknowledged offset \(acknowledged), peer sent up to \(limit) contiguously")
            stackAcknowledged = acknowledged
        }
    }
}
