// Memory of idle established TCP connections on one NetStack node (issue 14), library level: one
// `IPStack` with a listener, and a stateless client written here that sends each SYN and the ACK of
// each SYN,ACK as raw IPv4 packets, so that the process holds only the listening node's state.
// Usage: ConnectionMemoryProbe <connections> [idle | exchange]
//   idle      the connections never carry data (the default);
//   exchange  each carries one request/response before it idles, as a keep-alive HTTP connection
//             does: the client's ACK of the SYN,ACK brings a 100-byte request, the server reads it and
//             answers 4 KiB (three segments), and the client acknowledges every segment. The idle
//             connection then holds whatever the transfer left behind (loss-recovery records,
//             delivery-rate state, reassembly lists) beside its never-used self.
// Prints one JSON line: resident set (VmRSS) and malloc'd bytes (mallinfo2) before and after, per connection.
#if canImport(Glibc)
import Glibc
#endif
import CHeapInfo
import NetStack
import Wire

let connections = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 10_000 : 10_000
let mode = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "idle"
guard mode == "idle" || mode == "exchange" else {
    print("usage: ConnectionMemoryProbe <connections> [idle | exchange]")
    exit(2)
}
let requestBytes = mode == "exchange" ? 100 : 0
let responseBytes = 4096
let serverAddress = IPv4Address(10, 234, 0, 1)
let serverPort: UInt16 = 80

func residentKiB() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return -1 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, file) != nil {
        let text = String(cString: line)
        if text.hasPrefix("VmRSS:") {
            return Int(String(text.dropFirst(6)).trimming(" \tkB\n")) ?? -1
        }
    }
    return -1
}

extension String {
    func trimming(_ set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

func heapBytes() -> Int {
    Int(wirenet_heap_in_use())
}

/// Client `i`: address 10.234.(1 + i / 1000 / 256).(i / 1000 % 256), port 10000 + i % 1000.
func client(_ i: Int) -> (IPv4Address, UInt16) {
    let host = i / 1000
    return (IPv4Address(10, 234, UInt8(1 + host / 250), UInt8(1 + host % 250)), UInt16(10_000 + i % 1000))
}

var config = IPStackConfiguration(addresses: [.v4(serverAddress)])
config.randomSeed = 14
config.maximumConnections = connections + 1024
let stack = IPStack(configuration: config)
let packet = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
var now = NetInstant.zero

@MainActor func sendSegment(
    from source: IPv4Address, port: UInt16, seq: UInt32, ack: UInt32, flags: TCPFlags, options: TCPOptions, payload: Int = 0
) {
    let tcp = TCPHeader(
        sourcePort: port, destinationPort: serverPort, sequenceNumber: seq, acknowledgmentNumber: ack,
        flags: flags, window: 65535 >> 7, options: options)
    let length = 20 + tcp.length + payload
    UnsafeMutableRawBufferPointer(rebasing: packet[(20 + tcp.length)..<length]).initializeMemory(as: UInt8.self, repeating: 0x2a)
    try! IPv4Header(source: source, destination: serverAddress, protocol: .tcp, payloadLength: tcp.length + payload)
        .emit(into: packet)
    try! tcp.emit(into: UnsafeMutableRawBufferPointer(rebasing: packet[20..<length]), source: source, destination: serverAddress)
    stack.receive(UnsafeRawBufferPointer(rebasing: packet[..<length]), now: now)
}

let listener = try! stack.listen(port: serverPort, backlog: 1024)
var accepted: [TCPSocketHandle] = []
accepted.reserveCapacity(connections)
let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: responseBytes, alignment: 16)
scratch.initializeMemory(as: UInt8.self, repeating: 0x55)

/// Sends everything the node has queued; the stateless client acknowledges each data segment (its
/// sequence number is the segment's acknowledgment number: the client sends nothing else).
@MainActor func acknowledgeOutput() {
    while let n = stack.nextOutgoingPacket(into: out, now: now) {
        guard let ip = try? IPv4Packet(validating: UnsafeRawBufferPointer(rebasing: out[..<n])),
              let tcp = try? TCPSegment(validating: ip.payload), !tcp.payload.isEmpty else { continue }
        sendSegment(from: ip.destination, port: tcp.destinationPort, seq: tcp.acknowledgmentNumber,
                    ack: tcp.sequenceNumber &+ UInt32(tcp.payload.count), flags: .ack,
                    options: TCPOptions(timestamps: TCPTimestamps(value: 3, echoReply: tcp.options.timestamps?.value ?? 0)))
    }
}
let rssBefore = residentKiB()
let heapBefore = heapBytes()
var next = 0
while next < connections {
    let batch = next ..< Swift.min(connections, next + 512)
    for i in batch {
        let (address, port) = client(i)
        sendSegment(from: address, port: port, seq: UInt32(i) &* 7919, ack: 0, flags: .syn,
                    options: TCPOptions(maximumSegmentSize: 1380, windowScale: 7, sackPermitted: true,
                                        timestamps: TCPTimestamps(value: 1, echoReply: 0)))
    }
    var synAcks: [(IPv4Address, UInt16, UInt32, UInt32, UInt32)] = []
    while let n = stack.nextOutgoingPacket(into: out, now: now) {
        guard let ip = try? IPv4Packet(validating: UnsafeRawBufferPointer(rebasing: out[..<n])),
              let tcp = try? TCPSegment(validating: ip.payload),
              tcp.flags.contains(.syn), tcp.flags.contains(.ack) else { continue }
        synAcks.append((ip.destination, tcp.destinationPort, tcp.acknowledgmentNumber, tcp.sequenceNumber &+ 1,
                        tcp.options.timestamps?.value ?? 0))
    }
    now = now + .milliseconds(1)
    for (address, port, seq, ack, tsval) in synAcks {
        sendSegment(from: address, port: port, seq: seq, ack: ack, flags: requestBytes > 0 ? [.ack, .psh] : .ack,
                    options: TCPOptions(timestamps: TCPTimestamps(value: 2, echoReply: tsval)), payload: requestBytes)
    }
    while stack.nextOutgoingPacket(into: out, now: now) != nil {}
    while let socket = try! stack.accept(listener) {
        accepted.append(socket)
        guard requestBytes > 0 else { continue }
        // The server's side of the exchange: read the request, answer it.
        let read = try! stack.receive(socket, into: scratch)
        precondition(read == requestBytes, "request: \(read) of \(requestBytes) bytes")
        let written = try! stack.send(socket, UnsafeRawBufferPointer(scratch))
        precondition(written == responseBytes, "response: \(written) of \(responseBytes) bytes written")
    }
    if requestBytes > 0 {
        now = now + .milliseconds(1)
        acknowledgeOutput()
    }
    next = batch.upperBound
}
// Let every timer the handshakes started run out (delayed ACKs, RTO of the SYN,ACK).
now = now + .seconds(5)
stack.handleTimers(now: now)
acknowledgeOutput()
stack.pollEvents { _, _ in }
let established = accepted.filter { stack.status(of: $0)?.state == .established }.count
// In exchange mode every request was read and every response acknowledged: no buffer holds data, so
// what the connections hold is state, not buffered bytes.
let bufferedBytes = stack.tcpBufferBytesInUse
precondition(bufferedBytes == 0, "\(bufferedBytes) bytes still buffered after the exchanges")
let rssAfter = residentKiB()
let heapAfter = heapBytes()
let perConnection = Double(heapAfter - heapBefore) / Double(Swift.max(1, established))
print("{\"connections\":\(connections),\"mode\":\"\(mode)\",\"established\":\(established),\"buffered_bytes\":\(bufferedBytes),"
      + "\"rss_before_kib\":\(rssBefore),\"rss_after_kib\":\(rssAfter),"
      + "\"heap_before_bytes\":\(heapBefore),\"heap_after_bytes\":\(heapAfter),"
      + "\"heap_per_connection_bytes\":\(Int(perConnection.rounded())),"
      + "\"rss_per_connection_bytes\":\(Int((Double(rssAfter - rssBefore) * 1024 / Double(Swift.max(1, established))).rounded())),"
      + "\"tcp_connection_struct_bytes\":\(IPStack.connectionStateSize)}")
