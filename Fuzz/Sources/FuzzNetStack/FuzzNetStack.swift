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

private func makeStacks() -> (server: IPStack, client: IPStack, clientPort: UInt16) {
    var serverConfig = IPStackConfiguration(addresses: [server, IPAddress("fd7a:115c:a1e0:6::2")!])
    serverConfig.randomSeed = 1
    serverConfig.tcp.receiveBufferSize = 16384
    serverConfig.tcp.sendBufferSize = 16384
    serverConfig.reassembly.maximumDatagrams = 4
    let stack = IPStack(configuration: serverConfig)
    var clientConfig = IPStackConfiguration(addresses: [client])
    clientConfig.randomSeed = 2
    clientConfig.tcp.receiveBufferSize = 16384
    clientConfig.tcp.sendBufferSize = 16384
    let peer = IPStack(configuration: clientConfig)
    let listener = try! stack.listen(port: 80, backlog: 4)
    _ = try! stack.bindUDP(port: 53)
    let socket = try! peer.connect(to: IPEndpoint(server, 80), now: .zero)
    var buffer = [UInt8](repeating: 0, count: 65536)
    for _ in 0..<3 {
        while let n = buffer.withUnsafeMutableBytes({ peer.nextOutgoingPacket(into: $0, now: .zero) }) {
            buffer.withUnsafeBytes { stack.receive(UnsafeRawBufferPointer(rebasing: $0.prefix(n)), now: .zero) }
        }
        while let n = buffer.withUnsafeMutableBytes({ stack.nextOutgoingPacket(into: $0, now: .zero) }) {
            buffer.withUnsafeBytes { peer.receive(UnsafeRawBufferPointer(rebasing: $0.prefix(n)), now: .zero) }
        }
    }
    _ = try? stack.accept(listener)
    let port = peer.status(of: socket)?.local.port ?? 0
    return (stack, peer, port)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    let (stack, _, clientPort) = makeStacks()
    var now = NetInstant.zero
    var output = [UInt8](repeating: 0, count: 65536)
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
        while output.withUnsafeMutableBytes({ stack.nextOutgoingPacket(into: $0, now: now) }) != nil {}
        stack.pollEvents { _, _ in }
    }
    // Let every timer run out.
    for _ in 0..<64 {
        guard let deadline = stack.nextDeadline else { break }
        now = max(now, deadline)
        stack.handleTimers(now: now)
        while output.withUnsafeMutableBytes({ stack.nextOutgoingPacket(into: $0, now: now) }) != nil {}
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
