import Testing
import Wire
@testable import NetStack

@Suite("Fragment reassembly")
struct FragmentReassemblyTests {
    /// A UDP datagram to port 7000 split into IPv4 fragments of `chunk` bytes (a multiple of 8).
    func ipv4Fragments(payload: [UInt8], chunk: Int, identification: UInt16 = 77) -> [[UInt8]] {
        let whole = udpPacket(from: IPEndpoint(clientV4, 1111), to: IPEndpoint(stackV4, 7000), payload: payload)
        let ipPayload = Array(whole[20...])
        var fragments: [[UInt8]] = []
        var offset = 0
        while offset < ipPayload.count {
            let end = min(offset + chunk, ipPayload.count)
            let part = Array(ipPayload[offset..<end])
            fragments.append(ipPacket(
                from: clientV4, to: stackV4, protocol: .udp, payloadLength: part.count, identification: identification,
                moreFragments: end < ipPayload.count, fragmentOffset: offset
            ) { area in part.withUnsafeBytes { area.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: part.count) } })
            offset = end
        }
        return fragments
    }

    /// The same for IPv6 with a fragment header (RFC 8200 §4.5).
    func ipv6Fragments(payload: [UInt8], chunk: Int, identification: UInt32 = 99) -> [[UInt8]] {
        let whole = udpPacket(from: IPEndpoint(clientV6, 1111), to: IPEndpoint(stackV6, 7000), payload: payload)
        let fragmentable = Array(whole[40...])
        guard case let .v6(s) = clientV6, case let .v6(d) = stackV6 else { return [] }
        var fragments: [[UInt8]] = []
        var offset = 0
        while offset < fragmentable.count {
            let end = min(offset + chunk, fragmentable.count)
            let part = Array(fragmentable[offset..<end])
            var bytes = [UInt8](repeating: 0, count: 48 + part.count)
            bytes.withUnsafeMutableBytes { raw in
                try! IPv6Header(source: s, destination: d, nextHeader: .ipv6Fragment, payloadLength: 8 + part.count).emit(into: raw)
                try! IPv6FragmentHeader(
                    nextHeader: .udp, fragmentOffset: offset, moreFragments: end < fragmentable.count,
                    identification: identification
                ).emit(into: UnsafeMutableRawBufferPointer(rebasing: raw[40..<48]))
                part.withUnsafeBytes { (raw.baseAddress! + 48).copyMemory(from: $0.baseAddress!, byteCount: part.count) }
            }
            fragments.append(bytes)
            offset = end
        }
        return fragments
    }

    func receiveOne(_ stack: IPStack, _ socket: UDPSocketHandle) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 70000)
        guard let got = try? buffer.withUnsafeMutableBytes({ try stack.receiveUDP(socket, into: $0) }) else { return nil }
        return Array(buffer.prefix(got.length))
    }

    @Test("RFC 791 §3.2: IPv4 fragments arriving out of order are reassembled")
    func ipv4OutOfOrder() throws {
        let stack = makeStack()
        let socket = try stack.bindUDP(port: 7000)
        let payload = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 31) }
        let fragments = ipv4Fragments(payload: payload, chunk: 1480)
        #expect(fragments.count == 4)
        for i in [2, 0, 3, 1] { deliver(fragments[i], to: stack) }
        #expect(receiveOne(stack, socket) == payload)
        #expect(stack.counters.datagramsReassembled == 1)
        #expect(stack.nextDeadline == nil)
    }

    @Test("RFC 8200 §4.5: IPv6 fragments are reassembled")
    func ipv6Reassembly() throws {
        let stack = makeStack()
        let socket = try stack.bindUDP(port: 7000)
        let payload = (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let fragments = ipv6Fragments(payload: payload, chunk: 1232)
        for fragment in fragments.reversed() { deliver(fragment, to: stack) }
        #expect(receiveOne(stack, socket) == payload)
    }

    @Test("RFC 5722: overlapping fragments discard the datagram")
    func overlapDiscards() throws {
        let stack = makeStack()
        let socket = try stack.bindUDP(port: 7000)
        let payload = [UInt8](repeating: 1, count: 3000)
        let fragments = ipv4Fragments(payload: payload, chunk: 1480)
        deliver(fragments[0], to: stack)
        // A fragment overlapping the first one.
        let overlapping = ipPacket(
            from: clientV4, to: stackV4, protocol: .udp, payloadLength: 16, identification: 77, moreFragments: true,
            fragmentOffset: 1472) { _ in }
        deliver(overlapping, to: stack)
        for fragment in fragments.dropFirst() { deliver(fragment, to: stack) }
        #expect(receiveOne(stack, socket) == nil)
        #expect(stack.counters.fragmentsDropped >= 1)
    }

    @Test("Partial datagrams expire after the reassembly timeout (RFC 791 §3.2, RFC 8200 §4.5)")
    func timeoutExpires() throws {
        let stack = makeStack { $0.reassembly.timeout = .seconds(30) }
        let socket = try stack.bindUDP(port: 7000)
        let fragments = ipv4Fragments(payload: [UInt8](repeating: 2, count: 3000), chunk: 1480)
        deliver(fragments[0], to: stack)
        #expect(stack.nextDeadline == .zero + .seconds(30))
        stack.handleTimers(now: .zero + .seconds(30))
        #expect(stack.nextDeadline == nil)
        for fragment in fragments.dropFirst() { deliver(fragment, to: stack, now: .zero + .seconds(30)) }
        #expect(receiveOne(stack, socket) == nil)
    }

    @Test("Reassembly holds at most the configured number of datagrams (oldest evicted)")
    func boundedDatagrams() throws {
        let stack = makeStack { $0.reassembly.maximumDatagrams = 2 }
        let socket = try stack.bindUDP(port: 7000)
        let a = ipv4Fragments(payload: [UInt8](repeating: 1, count: 2000), chunk: 1480, identification: 1)
        let b = ipv4Fragments(payload: [UInt8](repeating: 2, count: 2000), chunk: 1480, identification: 2)
        let c = ipv4Fragments(payload: [UInt8](repeating: 3, count: 2000), chunk: 1480, identification: 3)
        deliver(a[0], to: stack, now: .zero)
        deliver(b[0], to: stack, now: .zero + .seconds(1))
        deliver(c[0], to: stack, now: .zero + .seconds(2))  // evicts a
        deliver(a[1], to: stack, now: .zero + .seconds(2))  // starts a new partial (evicts b), never completes
        deliver(c[1], to: stack, now: .zero + .seconds(2))
        #expect(receiveOne(stack, socket) == [UInt8](repeating: 3, count: 2000))
        #expect(receiveOne(stack, socket) == nil)
    }

    @Test("Fragments with a non-multiple-of-8 length or past 65535 bytes are dropped")
    func invalidFragmentsDropped() throws {
        let stack = makeStack()
        deliver(ipPacket(from: clientV4, to: stackV4, protocol: .udp, payloadLength: 13, moreFragments: true) { _ in }, to: stack)
        deliver(ipPacket(from: clientV4, to: stackV4, protocol: .udp, payloadLength: 800, fragmentOffset: 65528 - 8) { _ in }, to: stack)
        #expect(stack.counters.fragmentsDropped == 2)
        #expect(stack.nextDeadline == nil)
    }
}
