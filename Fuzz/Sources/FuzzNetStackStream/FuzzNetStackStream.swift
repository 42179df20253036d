#if canImport(Glibc)
import Glibc
#endif
import CFuzzHeap
@testable import NetStack
import Wire

/// Structure-aware fuzzing of one TCP connection into a listener, with properties.
///
/// Every input is a program. Its first 8 bytes set up the connection: the stack's receive buffer
/// size, the options of the peer's SYN (MSS, window scale, SACK-permitted, timestamps) and the peer's
/// ISS. The handshake (SYN, SYN-ACK, ACK) is done with valid numbers, and the application accepts the
/// connection. The rest is a sequence of operations, each an opcode byte and its arguments: the peer
/// sends data (at, before or beyond what the stack acknowledged), ACKs (duplicate, partial, future,
/// old) with window changes and SACK blocks, FIN, RST and SYN at chosen sequence numbers, arbitrary
/// flag combinations, SYNs from other ports (the backlog), timestamp jumps (PAWS); the application
/// reads, writes, shuts down, closes or aborts; time advances and timers run.
///
/// Checked after every operation (`precondition`, so a violation is a crash libFuzzer keeps):
/// - no trap anywhere in the stack;
/// - byte-stream integrity both ways: what the application reads is, byte for byte and in order, the
///   stream the peer sent from offset 0, never past what the peer sent contiguously, and it ends only
///   at a FIN the peer sent; what the stack sends is what the application wrote (see `Peer.observe`);
/// - bounded memory: reassembly ranges, SACK scoreboard, listener backlog, connection table and event
///   queue stay within the limits the configuration sets (`checkBounds`).
private let receiveBufferSizes = [2048, 4096, 16384, 65536]

/// Once per process, before the first input (libFuzzer calls it).
///
/// Profile (perf, release -sanitize=fuzzer, 2026-12-02): about 6 % of the time went to `brk`: every
/// input's stack and buffers (up to 64 KB of receive buffer, the 64 KB output buffer) were freed at the
/// top of the heap, glibc gave the memory back to the kernel, and the next input took it again. A trim
/// threshold above what one input allocates keeps it; nothing an input sees changes.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    fuzz_keep_heap()
    _ = (peerStream.bytes, applicationStream.bytes)  // computed here, not in the first input
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = InputReader(bytes: UnsafeBufferPointer(start: data, count: size))
    var run = StreamRun(setup: &input)
    run.handshake()
    var operations = 0
    while !input.isAtEnd && operations < 256 {
        run.perform(&input)
        run.settle()
        operations += 1
    }
    run.finish()
    if traceRuns { run.printSummary(operations: operations) }
    return 0
}

/// `FUZZ_TRACE=1` prints what each run did (to check that a seed reaches what it is meant to).
let traceRuns = getenv("FUZZ_TRACE") != nil

/// Writes a trace line to standard error (unbuffered, so it survives a failed precondition).
func trace(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

struct StreamRun {
    let stack: IPStack
    let listener: TCPListenerHandle
    var peer: Peer
    var socket: TCPSocketHandle? = nil
    var now = NetInstant.zero
    var applicationRead = 0
    var sawEndOfStream = false
    var packet = [UInt8](repeating: 0, count: 4096)
    var output = [UInt8](repeating: 0, count: 65536)
    let synOptions: TCPOptions

    init(setup input: inout InputReader) {
        let flags = input.byte()
        let mss = input.byte()
        let scale = input.byte()
        let iss = input.uint32()
        _ = input.byte()  // reserved
        var configuration = IPStackConfiguration(addresses: [.v4(stackAddress)])
        configuration.randomSeed = 7
        configuration.tcp.receiveBufferSize = receiveBufferSizes[Int(flags >> 4) & 3]
        configuration.tcp.sendBufferSize = 8192
        configuration.tcp.keepalive = flags & 0x40 != 0 ? .init(idle: .seconds(10), interval: .seconds(1), count: 3) : nil
        configuration.tcp.noDelay = flags & 0x80 != 0
        configuration.maximumConnections = 8
        stack = IPStack(configuration: configuration)
        listener = try! stack.listen(port: listenPort, backlog: 2)
        peer = Peer(iss: iss, offeredTimestamps: flags & 8 != 0, offeredSACK: flags & 4 != 0)
        var options = TCPOptions()
        if flags & 1 != 0 { options.maximumSegmentSize = UInt16(mss) << 3 }
        if flags & 2 != 0 { options.windowScale = scale & 0x0F }
        options.sackPermitted = flags & 4 != 0
        if flags & 8 != 0 { options.timestamps = TCPTimestamps(value: 1000, echoReply: 0) }
        synOptions = options
    }

    /// SYN, the stack's SYN-ACK, ACK; then the application accepts.
    mutating func handshake() {
        peer.send(
            to: stack, now: now, sequence: peer.iss, acknowledgment: 0, flags: .syn, options: synOptions,
            payloadLength: 0, packet: &packet)
        settle()
        guard let stackISS = peer.stackISS else { return }
        var options = peer.options()
        options.sackBlocks = []
        peer.send(
            to: stack, now: now, sequence: peer.sequence(ofOffset: 0), acknowledgment: stackISS &+ 1,
            flags: .ack, options: options, payloadLength: 0, packet: &packet)
        settle()
        precondition(socket != nil, "a valid handshake did not produce a connection to accept")
    }

    /// Sequence number the stack's next ACK would carry for our data (RCV.NXT as last seen).
    var stackReceiveNext: UInt32 { peer.sequence(ofOffset: peer.stackAcknowledged) }

    mutating func perform(_ input: inout InputReader) {
        let opcode = input.byte() % 12
        switch opcode {
        case 0:  // data at, before or beyond what the stack acknowledged, or after the highest sent
            let choice = input.byte()
            let lengthBits = input.uint16()
            let base = choice & 1 == 0 ? peer.stackAcknowledged : peer.next
            let start = base + (Int(Int8(bitPattern: choice)) >> 1) * 37
            var flags: TCPFlags = .ack
            if lengthBits & 0x8000 != 0 { flags.insert(.psh) }
            peer.send(
                to: stack, now: now, sequence: peer.sequence(ofOffset: start), acknowledgment: peer.stackSendMax,
                flags: flags, options: peer.options(), payloadLength: Int(lengthBits & 0x0FFF) % 2049,
                packet: &packet)
        case 1:  // ACK: current, duplicate, partial, future or old; any window; SACK blocks
            let choice = input.byte()
            let windowByte = input.byte()
            let k = UInt32(input.byte()) * 16
            let acknowledgment: UInt32
            switch choice & 7 {
            case 0: acknowledgment = peer.stackSendMax
            case 1: acknowledgment = peer.lastAcknowledgmentSent
            case 2: acknowledgment = peer.lastAcknowledgmentSent &+ k
            case 3: acknowledgment = peer.stackSendMax &+ k &+ 1
            case 4: acknowledgment = peer.stackSendMax &- (1 << 30)
            case 5: acknowledgment = peer.stackSendMax &- k
            default: acknowledgment = (peer.stackISS ?? 0) &+ 1
            }
            var blocks = TCPSACKBlocks()
            for _ in 0..<Int(choice >> 5) % 5 {
                let at = input.byte()
                let length = UInt32(input.byte()) * 16 + 1
                let left = at & 0x80 == 0
                    ? acknowledgment &+ UInt32(at) * 32 : acknowledgment &- UInt32(at & 0x7F) * 32
                _ = blocks.append(TCPSACKBlock(left: left, right: left &+ length))
            }
            peer.send(
                to: stack, now: now, sequence: peer.sequence(ofOffset: peer.next), acknowledgment: acknowledgment,
                flags: .ack, window: UInt16(windowByte) << 8 | UInt16(windowByte),
                options: peer.options(sackBlocks: blocks), payloadLength: 0, packet: &packet)
        case 2:  // FIN with data, after the highest sent or at what the stack acknowledged
            let choice = input.byte()
            let start = choice & 1 == 0 ? peer.next : peer.stackAcknowledged
            peer.send(
                to: stack, now: now, sequence: peer.sequence(ofOffset: start), acknowledgment: peer.stackSendMax,
                flags: [.ack, .fin], options: peer.options(), payloadLength: Int(choice >> 1) * 8, packet: &packet)
        case 3:  // RST: exactly at RCV.NXT, inside the window (challenge ACK), outside; with or without ACK
            let choice = input.byte()
            let k = UInt32(choice >> 3) * 100
            let sequence: UInt32
            switch choice & 3 {
            case 0:
                sequence = stackReceiveNext
                // Exactly at RCV.NXT: the stack takes it in every state, so the connection is gone.
                peer.peerResetConnection = true
            case 1: sequence = stackReceiveNext &+ 1 &+ k
            case 2: sequence = stackReceiveNext &- 70000 &- k
            default: sequence = stackReceiveNext &+ (1 << 31)
            }
            peer.send(
                to: stack, now: now, sequence: sequence, acknowledgment: peer.stackSendMax,
                flags: choice & 4 != 0 ? [.rst, .ack] : .rst, options: peer.options(), payloadLength: 0, packet: &packet)
        case 4:  // SYN on the synchronized connection (RFC 9293 §3.10.7.4 fourth: challenge ACK)
            let choice = input.byte()
            peer.send(
                to: stack, now: now, sequence: stackReceiveNext &+ UInt32(choice) &* 10 &- 100,
                acknowledgment: peer.stackSendMax, flags: choice & 1 == 0 ? .syn : [.syn, .ack],
                options: synOptions, payloadLength: 0, packet: &packet)
        case 5:  // the application reads
            read(upTo: Int(input.byte()) * 64 + 1)
        case 6:  // the application writes
            write(Int(input.uint16()) % 20000)
        case 7:  // the application shuts down, closes, aborts, or toggles Nagle
            let choice = input.byte()
            guard let socket else { break }
            switch choice & 3 {
            case 0:
                try? stack.shutdownWrite(socket)
                peer.applicationShutDown = true
            case 1:
                stack.close(socket, now: now)
                peer.applicationShutDown = true
                self.socket = nil
            case 2:
                stack.abort(socket)
                self.socket = nil
            default:
                try? stack.setNoDelay(socket, choice & 4 != 0)
            }
        case 8:  // time passes; timers run
            let step = Int64(input.byte())
            now = now + .milliseconds(step * step)
            stack.handleTimers(now: now)
        case 9:  // any flags (URG, ECE, CWR, AE, none), sequence and acknowledgment near the current ones
            let flags = TCPFlags(rawValue: UInt16(input.byte()) | UInt16(input.byte() & 1) << 8)
            let sequenceDelta = UInt32(bitPattern: Int32(Int16(bitPattern: input.uint16())) * 4)
            let ackDelta = UInt32(bitPattern: Int32(Int8(bitPattern: input.byte())) * 64)
            let window = input.uint16()
            let urgent = input.uint16()
            peer.send(
                to: stack, now: now, sequence: stackReceiveNext &+ sequenceDelta,
                acknowledgment: peer.stackSendMax &+ ackDelta, flags: flags, window: window, urgentPointer: urgent,
                options: peer.options(), payloadLength: Int(input.byte()) * 4, packet: &packet)
        case 10:  // a SYN from another port: the listener's backlog and the connection table
            let port = 2000 + UInt16(input.byte())
            peer.send(
                to: stack, now: now, sourcePort: port, sequence: UInt32(port) << 16, acknowledgment: 0, flags: .syn,
                options: synOptions, payloadLength: 0, packet: &packet)
        default:  // the peer's timestamp clock jumps (PAWS, RFC 7323 §5)
            peer.timestampClock &+= UInt32(bitPattern: Int32(Int8(bitPattern: input.byte())) << 24)
        }
    }

    /// The application reads up to `limit` bytes and checks them against the peer's stream.
    mutating func read(upTo limit: Int) {
        guard let socket else { return }
        let n = output.withUnsafeMutableBytes { buffer in
            (try? stack.receive(socket, into: UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(limit)))) ?? 0
        }
        if n > 0 {
            precondition(!sawEndOfStream, "data after the end of the stream")
            precondition(applicationRead + n <= peer.sent.contiguousEnd,
                "read up to offset \(applicationRead + n), peer sent \(peer.sent.contiguousEnd) contiguously")
            let wrong = output.withUnsafeBytes { peerStream.firstMismatch(UnsafeRawBufferPointer(rebasing: $0.prefix(n)), at: applicationRead) }
            if let wrong { preconditionFailure("read byte at offset \(wrong) corrupted") }
            applicationRead += n
        }
        if stack.status(of: socket)?.isAtEndOfStream == true {
            precondition(peer.finOffsets.contains(applicationRead), "end of stream at \(applicationRead), no FIN sent there")
            sawEndOfStream = true
        }
    }

    mutating func write(_ count: Int) {
        guard let socket, !peer.applicationShutDown, count > 0 else { return }
        let n = withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { bytes in
            applicationStream.copy(from: peer.applicationWritten, count: count, into: bytes.baseAddress!)
            return (try? stack.send(socket, UnsafeRawBufferPointer(bytes))) ?? 0
        }
        peer.applicationWritten += n
    }

    /// Drains the stack's output into the peer, delivers events, accepts, and checks the bounds.
    mutating func settle() {
        while let n = output.withUnsafeMutableBytes({ stack.nextOutgoingPacket(into: $0, now: now) }) {
            output.withUnsafeBytes { peer.observe(UnsafeRawBufferPointer(rebasing: $0.prefix(n)), mtu: stack.mtu) }
        }
        stack.pollEvents { _, _ in }
        while let accepted = try? stack.accept(listener) {
            if socket == nil, stack.status(of: accepted)?.remote.port == peerPort, peer.stackISS != nil,
               !peer.newIncarnation, applicationRead == 0, peer.applicationWritten == 0 {
                socket = accepted
            } else {
                stack.close(accepted, now: now)
            }
        }
        checkBounds()
    }

    /// Memory stays within what the configuration allows, whatever the peer sends.
    func checkBounds() {
        let configuration = stack.configuration
        precondition(stack.connectionCount <= configuration.maximumConnections, "connection table over its limit")
        precondition(stack.tcpSlots.count <= configuration.maximumConnections, "slot array over its limit")
        for slot in stack.listeners where slot.open {
            precondition(slot.synQueue.count <= slot.backlog, "SYN queue over its limit")
            precondition(slot.acceptQueue.count <= slot.backlog, "accept queue over its limit")
        }
        precondition(stack.eventQueue.count <= stack.tcpSlots.count + stack.listeners.count + stack.udpSockets.count,
            "event queue holds more entries than sockets")
        for slot in stack.tcpSlots {
            guard let connection = slot.connection else { continue }
            let reassembly = connection.receiver.reassembly
            precondition(reassembly.ranges.count <= reassembly.maxRanges, "reassembly ranges over their limit")
            precondition(reassembly.highestEnd <= connection.receiveBuffer.capacity, "reassembly past the receive buffer")
            precondition(connection.readableBytes <= connection.receiveBuffer.capacity)
            precondition(connection.unacknowledgedBytes <= connection.sendBuffer.capacity)
            let scoreboard = connection.sender.scoreboard
            precondition(scoreboard.sackedBytes <= connection.sendBuffer.capacity + 1, "SACKed more than was sent")
            precondition(scoreboard.ranges.count <= connection.sendBuffer.capacity / 2 + 1, "scoreboard over its limit")
        }
    }

    func printSummary(operations: Int) {
        trace("operations \(operations), accepted \(socket != nil || applicationRead > 0), read \(applicationRead), "
            + "peer sent \(peer.sent.contiguousEnd) contiguously (FINs at \(peer.finOffsets)), end of stream \(sawEndOfStream), "
            + "application wrote \(peer.applicationWritten), stack sent up to \(peer.stackSendMax &- (peer.stackISS ?? 0)), "
            + "timestamps \(peer.timestampsAgreed), counters \(stack.counters)")
    }

    /// Reads what is left, then lets every timer run out; the checks keep running.
    mutating func finish() {
        for _ in 0..<64 {
            read(upTo: 65536)
            guard let deadline = stack.nextDeadline else { break }
            now = max(now, deadline)
            stack.handleTimers(now: now)
            settle()
        }
    }
}
