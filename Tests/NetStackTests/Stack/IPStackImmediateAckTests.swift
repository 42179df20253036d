import Testing
import Wire
@testable import NetStack

/// Issue 13: a batch of received segments handed to the stack before its output is drained (as the
/// engine does per batch of datagrams) must still produce one ACK per out-of-order segment, each with
/// the SACK blocks of its moment — a Linux sender counts duplicate ACKs and reads SACK blocks per ACK.
@Suite("IPStack: immediate ACKs for out-of-order segments within a batch")
struct IPStackImmediateAckTests {
    static let client = IPEndpoint(clientV4, 40000)
    static let server = IPEndpoint(stackV4, 80)
    static let segmentSize = 1000

    /// An established connection to the stack's listener; returns the stack and the client's next
    /// sequence number (the first data byte) and the stack's.
    func establish(sackCompression: Bool = false) throws -> (IPStack, UInt32, UInt32) {
        let stack = makeStack { $0.tcp.sackCompression = sackCompression }
        _ = try stack.listen(port: 80)
        let options = TCPOptions(maximumSegmentSize: UInt16(Self.segmentSize), sackPermitted: true)
        deliver(tcpPacket(from: Self.client, to: Self.server, seq: 1, flags: .syn, options: options), to: stack)
        let synAck = try #require(drain(stack).first.flatMap(parseTCP))
        #expect(synAck.options.sackPermitted)
        let serverNext = synAck.sequenceNumber &+ 1
        deliver(tcpPacket(from: Self.client, to: Self.server, seq: 2, ack: serverNext, flags: .ack), to: stack)
        #expect(drain(stack).isEmpty)
        return (stack, 2, serverNext)
    }

    func data(_ stack: IPStack, seq: UInt32, ack: UInt32) {
        let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: seq), count: Self.segmentSize)
        deliver(tcpPacket(from: Self.client, to: Self.server, seq: seq, ack: ack, flags: .ack, payload: payload), to: stack)
    }

    func sack(_ header: TCPHeader) -> [[UInt32]] { header.options.sackBlocks.map { [$0.left, $0.right] } }

    @Test("RFC 5681 §4.2 / RFC 2018 §4: each out-of-order segment of a batch gets its own immediate ACK, first SACK block the newest; a filled hole is ACKed too")
    func rfc5681Section4_2ImmediateAckPerOutOfOrderSegment() throws {
        let (stack, isn, ack) = try establish()
        let n = UInt32(Self.segmentSize)
        // One batch: segments 1 and 3 arrive, 0 and 2 were lost.
        data(stack, seq: isn + n, ack: ack)
        data(stack, seq: isn + 3 * n, ack: ack)
        let acks = drain(stack).compactMap(parseTCP)
        try #require(acks.count == 2)
        #expect(acks.allSatisfy { $0.acknowledgmentNumber == isn && $0.flags == .ack })
        #expect(sack(acks[0]) == [[isn + n, isn + 2 * n]])
        #expect(sack(acks[1]) == [[isn + 3 * n, isn + 4 * n], [isn + n, isn + 2 * n]])
        // Next batch: the retransmissions of 0 and 2 fill both holes; each gets its ACK at once.
        data(stack, seq: isn, ack: ack)
        data(stack, seq: isn + 2 * n, ack: ack)
        let filled = drain(stack).compactMap(parseTCP)
        try #require(filled.count == 2)
        #expect(filled[0].acknowledgmentNumber == isn + 2 * n)
        #expect(sack(filled[0]) == [[isn + 3 * n, isn + 4 * n]])
        #expect(filled[1].acknowledgmentNumber == isn + 4 * n)
        #expect(sack(filled[1]).isEmpty)
    }

    @Test("Linux tcp_comp_sack: in a batch, the first three out-of-order segments at one RCV.NXT get their own ACKs, the others one ACK when the batch's output is drained")
    func sackCompressionWithinABatch() throws {
        let (stack, start, ack) = try establish(sackCompression: true)
        let n = UInt32(Self.segmentSize)
        // Past the quick-ACK phase of a new connection (it acknowledges out-of-order data at once too).
        for k in 0..<UInt32(16) { data(stack, seq: start + k * n, ack: ack) }
        #expect(drain(stack).count == 1)
        let isn = start + 16 * n
        // Segment 0 lost, 1 to 6 in one batch (the handshake gave no RTT: the hold ends with the batch).
        for k in UInt32(1)...6 { data(stack, seq: isn + k * n, ack: ack) }
        let acks = drain(stack).compactMap(parseTCP)
        try #require(acks.count == 4)
        #expect(acks.allSatisfy { $0.acknowledgmentNumber == isn })
        #expect(acks.map { sack($0).first } == [[isn + n, isn + 2 * n], [isn + n, isn + 3 * n], [isn + n, isn + 4 * n], [isn + n, isn + 7 * n]])
    }

    @Test("RFC 2883 §4: each duplicate segment of a batch gets its own ACK with its D-SACK block")
    func rfc2883Section4DSACKPerDuplicateSegment() throws {
        let (stack, isn, ack) = try establish()
        let n = UInt32(Self.segmentSize)
        data(stack, seq: isn, ack: ack)
        data(stack, seq: isn + n, ack: ack)
        #expect(drain(stack).compactMap(parseTCP).last?.acknowledgmentNumber == isn + 2 * n)
        data(stack, seq: isn, ack: ack)
        data(stack, seq: isn + n, ack: ack)
        let acks = drain(stack).compactMap(parseTCP)
        try #require(acks.count == 2)
        #expect(acks.allSatisfy { $0.acknowledgmentNumber == isn + 2 * n })
        #expect(sack(acks[0]) == [[isn, isn + n]])
        #expect(sack(acks[1]) == [[isn + n, isn + 2 * n]])
    }

    @Test("In-order data within a batch is still acknowledged once per batch (every second segment rule, no extra ACKs)")
    func inOrderBatchNotAckedPerSegment() throws {
        let (stack, isn, ack) = try establish()
        let n = UInt32(Self.segmentSize)
        // Past the quick-ACK phase of a new connection.
        for k in 0..<UInt32(32) { data(stack, seq: isn + k * n, ack: ack) }
        let acks = drain(stack).compactMap(parseTCP)
        #expect(acks.count == 1)
        #expect(acks.first?.acknowledgmentNumber == isn + 32 * n)
    }
}
