import Testing
import Wire
@testable import NetStack

/// Two `IPStack`s joined by links on a virtual clock, driven step by step by a test that plays both
/// applications itself. Counts the packets each side sends; `peerVanished` cuts both links (a peer
/// that disappears without a RST).
final class StackPair {
    let a: IPStack
    let b: IPStack
    let aAddress = IPAddress("100.64.7.1")!
    let bAddress = IPAddress("100.64.7.2")!
    var aToB: FaultyLink<[UInt8]>
    var bToA: FaultyLink<[UInt8]>
    var now = NetInstant.zero
    /// Packets sent by each side so far (whether or not the link delivered them).
    private(set) var sentByA = 0
    private(set) var sentByB = 0
    /// When true, every packet is lost in both directions.
    var peerVanished = false
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    init(delay: Duration = .milliseconds(1), tcp: (inout TCPConfiguration) -> Void = { _ in },
         stack: (inout IPStackConfiguration) -> Void = { _ in }) {
        var aConfig = IPStackConfiguration(addresses: [aAddress])
        aConfig.randomSeed = 71
        tcp(&aConfig.tcp)
        stack(&aConfig)
        var bConfig = IPStackConfiguration(addresses: [bAddress])
        bConfig.randomSeed = 72
        tcp(&bConfig.tcp)
        stack(&bConfig)
        a = IPStack(configuration: aConfig)
        b = IPStack(configuration: bConfig)
        aToB = FaultyLink(LinkImpairments(delay: delay), seed: 73)
        bToA = FaultyLink(LinkImpairments(delay: delay), seed: 74)
    }

    deinit { buffer.deallocate() }

    var sent: Int { sentByA + sentByB }

    /// Moves packets and runs timers until `time`, calling `applications` after every step.
    func run(until time: NetInstant, applications: () -> Void = {}) {
        pump()
        while true {
            applications()
            pump()
            guard let next = earliest(
                earliest(aToB.nextArrival, bToA.nextArrival), earliest(a.nextDeadline, b.nextDeadline)),
                next <= time
            else { break }
            now = Swift.max(now, next)
            for packet in aToB.takeDue(now: now) where !peerVanished {
                packet.withUnsafeBytes { b.receive($0, now: now) }
            }
            for packet in bToA.takeDue(now: now) where !peerVanished {
                packet.withUnsafeBytes { a.receive($0, now: now) }
            }
            a.handleTimers(now: now)
            b.handleTimers(now: now)
            a.pollEvents { _, _ in }
            b.pollEvents { _, _ in }
        }
        now = Swift.max(now, time)
    }

    /// When true, A's packets are taken as an engine takes them: headers in the buffer, TCP payloads
    /// gathered from the send buffer (`nextOutgoingPacket(into:gathering:now:)`), made whole here.
    var aGathers = false
    /// A's packets that had gathered payload runs.
    private(set) var gatheredByA = 0
    /// Every packet A sent, when not nil.
    var aLog: [[UInt8]]? = nil

    /// Sends everything both stacks have queued.
    func pump() {
        var payload = GatherList()
        while let n = aGathers ? a.nextOutgoingPacket(into: buffer, gathering: &payload, now: now)
                               : a.nextOutgoingPacket(into: buffer, now: now) {
            sentByA += 1
            if !payload.isEmpty {
                gatheredByA += 1
                payload.copy(into: buffer)
            }
            let packet = Array(UnsafeRawBufferPointer(rebasing: buffer.prefix(n)))
            aLog?.append(packet)
            aToB.send(packet, size: n, now: now)
        }
        if aGathers { a.releaseGatheredPayloads() }
        while let n = b.nextOutgoingPacket(into: buffer, now: now) {
            sentByB += 1
            bToA.send(Array(UnsafeRawBufferPointer(rebasing: buffer.prefix(n))), size: n, now: now)
        }
    }

    /// A connects to a listener on B; returns both ends once established.
    func connect(port: UInt16 = 9000) throws -> (client: TCPSocketHandle, server: TCPSocketHandle) {
        let listener = try b.listen(port: port)
        let client = try a.connect(to: IPEndpoint(bAddress, port), now: now)
        var server: TCPSocketHandle? = nil
        run(until: now + .seconds(1)) {
            if server == nil { server = try? b.accept(listener) }
        }
        b.close(listener)
        #expect(a.status(of: client)?.state == .established)
        let accepted = try #require(server)
        return (client, accepted)
    }

    /// Writes as much of `remaining` bytes as the send buffer takes; returns what is left.
    func write(_ stack: IPStack, _ socket: TCPSocketHandle, remaining: Int) -> Int {
        var left = remaining
        let chunk = [UInt8](repeating: 0x5A, count: 65536)
        while left > 0 {
            let n = chunk.withUnsafeBytes {
                (try? stack.send(socket, UnsafeRawBufferPointer(rebasing: $0.prefix(left)))) ?? 0
            }
            if n == 0 { break }
            left -= n
        }
        return left
    }

    /// Reads and discards everything buffered; returns the byte count.
    @discardableResult
    func drain(_ stack: IPStack, _ socket: TCPSocketHandle) -> Int {
        var total = 0
        while true {
            let n = (try? stack.receive(socket) { $0.count }) ?? 0
            if n == 0 { return total }
            total += n
        }
    }
}
