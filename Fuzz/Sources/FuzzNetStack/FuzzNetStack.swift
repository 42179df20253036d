import CFuzzHeap
import NetStack
import Wire

/// Feeds arbitrary packets to a stack that has a listening socket (port 80) and one established
/// connection (from 100.64.6.1 to port 80), then runs its timers and drains its output. Each input is
/// a sequence of records; a record's first byte picks the kind:
/// - even: the rest of the record (length in the second byte) is delivered as a raw IP packet;
/// - odd: a well-formed TCP segment on the open connection whose seq/ack offsets, flags, window,
///   options and payload come from the input (valid checksums, so the fuzzer reaches the TCP state
///   machine instead of the checksum check).
/// Time advances by the record's first byte in milliseconds. The stack must never trap.
private let client = IPAddress("100.64.6.1")!
private let server = IPAddress("100.64.6.2")!

/// The stack every input starts from: listening on port 80, UDP port 53 bound, one connection from
/// `client` established and accepted.
///
/// Until 2026-12-02 every input built it by running a second stack, the client, through `connect` and
/// the handshake. The server stack is deterministic (fixed random seed, time zero), so what it does
/// depends only on the packets it is given: `SetUp` runs the client once per process, records the
/// client's packets of each round, and every input replays them into a fresh server stack — the same
/// packets in the same order at the same time, hence the same server state, without the client
/// stack's construction, connect and receive path. `SetUp.recorded()` checks the replay against the
/// original run: the server must send byte for byte what it sent to the real client.
private struct SetUp {
    /// The client's packets, per exchange round (the client's turn of each round).
    var rounds: [[[UInt8]]] = []
    /// What the server sent in each round of the original run.
    var serverOutput: [[[UInt8]]] = []
    var clientPort: UInt16 = 0

    static func serverStack() -> (IPStack, TCPListenerHandle) {
        var serverConfig = IPStackConfiguration(addresses: [server, IPAddress("fd7a:115c:a1e0:6::2")!])
        serverConfig.randomSeed = 1
        serverConfig.tcp.receiveBufferSize = 16384
        serverConfig.tcp.sendBufferSize = 16384
        serverConfig.reassembly.maximumDatagrams = 4
        let stack = IPStack(configuration: serverConfig)
        let listener = try! stack.listen(port: 80, backlog: 4)
        _ = try! stack.bindUDP(port: 53)
        return (stack, listener)
    }

    /// The original set-up with a real client stack, recording both sides.
    static func recorded() -> SetUp {
        let (stack, listener) = serverStack()
        var clientConfig = IPStackConfiguration(addresses: [client])
        clientConfig.randomSeed = 2
        clientConfig.tcp.receiveBufferSize = 16384
        clientConfig.tcp.sendBufferSize = 16384
        let peer = IPStack(configuration: clientConfig)
        let socket = try! peer.connect(to: IPEndpoint(server, 80), now: .zero)
        var setUp = SetUp()
        var buffer = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<3 {
            var sent: [[UInt8]] = []
            while let n = buffer.withUnsafeMutableBytes({ peer.nextOutgoingPacket(into: $0, now: .zero) }) {
                sent.append(Array(buffer[0..<n]))
                buffer.withUnsafeBytes { stack.receive(UnsafeRawBufferPointer(rebasing: $0.prefix(n)), now: .zero) }
            }
            var answered: [[UInt8]] = []
            while let n = buffer.withUnsafeMutableBytes({ stack.nextOutgoingPacket(into: $0, now: .zero) }) {
                answered.append(Array(buffer[0..<n]))
                buffer.withUnsafeBytes { peer.receive(UnsafeRawBufferPointer(rebasing: $0.prefix(n)), now: .zero) }
            }
            setUp.rounds.append(sent)
            setUp.serverOutput.append(answered)
        }
        precondition(peer.status(of: socket)?.state == .established, "the set-up's client did not connect")
        _ = try? stack.accept(listener)
        setUp.clientPort = peer.status(of: socket)?.local.port ?? 0
        _ = setUp.replay(checking: true)  // the replay must reproduce the server's side exactly
        return setUp
    }

    /// A fresh server stack given the recorded client packets; with `checking`, its output is compared
    /// with the original run's.
    func replay(checking: Bool = false) -> IPStack {
        let (stack, listener) = SetUp.serverStack()
        for (round, packets) in rounds.enumerated() {
            for packet in packets { packet.withUnsafeBytes { stack.receive($0, now: .zero) } }
            var index = 0
            while let n = stack.nextOutgoingPacket(into: output, now: .zero) {
                if checking {
                    precondition(index < serverOutput[round].count
                        && serverOutput[round][index].elementsEqual(UnsafeRawBufferPointer(rebasing: output.prefix(n))),
                        "the replayed set-up's server sent something else in round \(round)")
                }
                index += 1
            }
            if checking { precondition(index == serverOutput[round].count, "the replayed set-up's server sent less") }
        }
        let accepted = try? stack.accept(listener)
        if checking { precondition(accepted != nil, "the replayed set-up has no connection to accept") }
        return stack
    }
}

private let setUp = SetUp.recorded()
/// The output buffer every input drains the stack into (its contents never reach the stack).
nonisolated(unsafe) private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

/// Once per process, before the first input: the set-up is recorded here, so the client stack's code
/// it runs is not counted as any input's coverage; and glibc keeps freed memory (profile, 2026-12-02:
/// about a fifth of the time was `brk` and page faults, each input's stack freed at the top of the
/// heap, returned to the kernel and taken again, as `FuzzNetStackStream` did before the same setting).
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    fuzz_keep_heap()
    _ = setUp.clientPort
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    let stack = setUp.replay()
    let clientPort = setUp.clientPort
    var now = NetInstant.zero
    var position = 0
    while position + 2 <= input.count {
        let kind = input[position]
        let length = min(Int(input[position + 1]) * 4, input.count - position - 2)
        let record = UnsafeBufferPointer(rebasing: input[(position + 2)..<(position + 2 + length)])
        position += 2 + length
        now = now + .milliseconds(Int64(kind))
        if kind & 1 == 0 {
            stack.receive(UnsafeRawBufferPointer(record), now: now)
        } else {
            deliverSegment(record, to: stack, clientPort: clientPort, now: now)
        }
        stack.handleTimers(now: now)
        while stack.nextOutgoingPacket(into: output, now: now) != nil {}
        stack.pollEvents { _, _ in }
    }
    // Let every timer run out.
    for _ in 0..<64 {
        guard let deadline = stack.nextDeadline else { break }
        now = max(now, deadline)
        stack.handleTimers(now: now)
        while stack.nextOutgoingPacket(into: output, now: now) != nil {}
    }
    return 0
}

private func deliverSegment(_ record: UnsafeBufferPointer<UInt8>, to stack: IPStack, clientPort: UInt16, now: NetInstant) {
    guard record.count >= 12, case let .v4(s) = client, case let .v4(d) = server else { return }
    func word(_ i: Int) -> UInt32 {
        UInt32(record[i]) << 24 | UInt32(record[i + 1]) << 16 | UInt32(record[i + 2]) << 8 | UInt32(record[i + 3])
    }
    var options = TCPOptions()
    let optionFlags = record[10]
    if optionFlags & 1 != 0 { options.maximumSegmentSize = UInt16(record[11]) << 4 }
    if optionFlags & 2 != 0 { options.windowScale = record[11] & 0x1F }
    if optionFlags & 4 != 0 { options.timestamps = TCPTimestamps(value: word(0) >> 3, echoReply: word(4) >> 5) }
    if optionFlags & 8 != 0 { options.sackPermitted = true }
    let header = TCPHeader(
        sourcePort: optionFlags & 0x80 != 0 ? UInt16(record[11]) | 0x400 : clientPort, destinationPort: 80,
        sequenceNumber: word(0), acknowledgmentNumber: word(4),
        flags: TCPFlags(rawValue: UInt16(record[8]) & 0x3F), window: UInt16(record[9]) << 8 | UInt16(record[11]),
        options: options)
    let payload = UnsafeBufferPointer(rebasing: record[12...])
    let tcpLength = header.length + payload.count
    var packet = [UInt8](repeating: 0, count: 20 + tcpLength)
    packet.withUnsafeMutableBytes { raw in
        let segment = UnsafeMutableRawBufferPointer(rebasing: raw[20...])
        if let base = payload.baseAddress, payload.count > 0 {
            (segment.baseAddress! + header.length).copyMemory(from: base, byteCount: payload.count)
        }
        do {
            try header.emit(into: segment, source: s, destination: d)
            try IPv4Header(source: s, destination: d, protocol: .tcp, payloadLength: tcpLength).emit(into: raw)
        } catch { return }
    }
    packet.withUnsafeBytes { stack.receive($0, now: now) }
}
