import Testing
import Wire
import WireGuard
@testable import WireNet

/// The tailnet policy on inbound packets (`Docs/control-plane.md`: new TCP, unsolicited UDP and ICMP
/// echo requests are checked against the rules; the rest of an established flow passes).
@Suite struct PacketFilterTests {
    let me = IPAddress("100.64.0.1")!
    let alice = IPAddress("100.64.0.2")!
    let mallory = IPAddress("100.64.0.3")!
    let me6 = IPAddress("fd7a:115c:a1e0::1")!
    let alice6 = IPAddress("fd7a:115c:a1e0::2")!
    let now = NetInstant(nanoseconds: 1_000_000_000)

    /// alice may reach port 80 over TCP and UDP on both of my addresses.
    var aliceToWeb: [FilterRule] {
        [FilterRule(sources: [IPPrefix("100.64.0.2/32")!, IPPrefix("fd7a:115c:a1e0::2/128")!],
                    destinations: [.init(prefix: IPPrefix("100.64.0.1/32")!, ports: 80...80),
                                   .init(prefix: IPPrefix("fd7a:115c:a1e0::1/128")!, ports: 80...80)],
                    protocols: [6, 17])]
    }

    func admits(_ filter: inout PacketFilter, _ packet: [UInt8], at time: NetInstant? = nil) -> Bool {
        packet.withUnsafeBytes { filter.admitsInbound($0, now: time ?? now) }
    }

    @Test func aSynFromAnAllowedSourceToAnAllowedPortPasses() {
        var filter = PacketFilter(rules: aliceToWeb)
        #expect(admits(&filter, TailnetPackets.tcp(alice, 40000, me, 80, flags: .syn)))
        #expect(admits(&filter, TailnetPackets.tcp(alice6, 40000, me6, 80, flags: .syn)))
        #expect(filter.drops.total == 0)
    }

    @Test func aSynFromAnotherSourceIsDroppedAndCounted() {
        var filter = PacketFilter(rules: aliceToWeb)
        #expect(!admits(&filter, TailnetPackets.tcp(mallory, 40000, me, 80, flags: .syn)))
        #expect(filter.drops[.tcpNotAllowed] == 1)
    }

    @Test func aSynToAPortOutsideTheRangeIsDropped() {
        var filter = PacketFilter(rules: aliceToWeb)
        #expect(!admits(&filter, TailnetPackets.tcp(alice, 40000, me, 22, flags: .syn)))
        #expect(filter.drops[.tcpNotAllowed] == 1)
    }

    @Test func segmentsWithAckPassSoFlowsThisNodeOpenedWork() {
        // A SYN-ACK answering our own SYN, and data of an established connection.
        var filter = PacketFilter(rules: [])
        #expect(admits(&filter, TailnetPackets.tcp(mallory, 443, me, 50000, flags: [.syn, .ack])))
        #expect(admits(&filter, TailnetPackets.tcp(mallory, 443, me, 50000, flags: [.ack, .psh])))
        #expect(admits(&filter, TailnetPackets.tcp(mallory, 443, me, 50000, flags: [.rst])))
    }

    @Test func anEmptyPolicyAllowsNothingInbound() {
        var filter = PacketFilter(rules: [])
        #expect(!admits(&filter, TailnetPackets.tcp(alice, 40000, me, 80, flags: .syn)))
        #expect(!admits(&filter, TailnetPackets.udp(alice, 5000, me, 80)))
        #expect(!admits(&filter, TailnetPackets.echoRequest(alice, me)))
        #expect(filter.drops.total == 3)
    }

    @Test func unsolicitedUDPNeedsARule() {
        var filter = PacketFilter(rules: aliceToWeb)
        #expect(admits(&filter, TailnetPackets.udp(alice, 5000, me, 80)))
        #expect(!admits(&filter, TailnetPackets.udp(mallory, 5000, me, 80)))
        #expect(!admits(&filter, TailnetPackets.udp(alice, 5000, me, 53)))
        #expect(filter.drops[.udpNotAllowed] == 2)
    }

    @Test func udpRepliesToAFlowThisNodeOpenedPass() {
        var filter = PacketFilter(rules: [])
        TailnetPackets.udp(me, 33000, mallory, 53).withUnsafeBytes { filter.noteOutbound($0, now: now) }
        #expect(admits(&filter, TailnetPackets.udp(mallory, 53, me, 33000)))
        // Another source port of the same host is not the reply.
        #expect(!admits(&filter, TailnetPackets.udp(mallory, 54, me, 33000)))
    }

    @Test func aUDPFlowExpiresAfterItsIdleTimeout() {
        var filter = PacketFilter(rules: [], flows: UDPFlowTracker(capacity: 16, idleTimeout: .seconds(120)))
        TailnetPackets.udp(me, 33000, mallory, 53).withUnsafeBytes { filter.noteOutbound($0, now: now) }
        #expect(!admits(&filter, TailnetPackets.udp(mallory, 53, me, 33000), at: now + .seconds(121)))
    }

    @Test func theFlowTableStaysBounded() {
        var tracker = UDPFlowTracker(capacity: 4, idleTimeout: .seconds(120))
        for port in UInt16(1)...100 {
            tracker.noteOutbound(.init(localPort: port, remote: mallory, remotePort: 53), now: now)
        }
        #expect(tracker.count <= 4)
        #expect(tracker.isReply(.init(localPort: 100, remote: mallory, remotePort: 53), now: now))
    }

    @Test func echoRequestsNeedARuleForICMPButRepliesPass() {
        var filter = PacketFilter(rules: aliceToWeb)
        #expect(!admits(&filter, TailnetPackets.echoRequest(alice, me)))
        #expect(!admits(&filter, TailnetPackets.echoRequest(alice6, me6)))
        #expect(filter.drops[.icmpNotAllowed] == 2)
        #expect(admits(&filter, TailnetPackets.echoRequest(alice, me, reply: true)))
        var pingable = PacketFilter(rules: [FilterRule(sources: [IPPrefix("0.0.0.0/0")!, IPPrefix("::/0")!],
                                                      destinations: [.init(prefix: IPPrefix("100.64.0.1/32")!, ports: 0...0),
                                                                     .init(prefix: IPPrefix("fd7a:115c:a1e0::1/128")!, ports: 0...0)],
                                                      protocols: FilterRule.defaultProtocols)])
        #expect(admits(&pingable, TailnetPackets.echoRequest(alice, me)))
        #expect(admits(&pingable, TailnetPackets.echoRequest(alice6, me6)))
    }

    @Test func aProtocolTheRuleDoesNotNameIsDropped() {
        var filter = PacketFilter(rules: [FilterRule(sources: [IPPrefix("100.64.0.2/32")!],
                                                     destinations: [.init(prefix: IPPrefix("100.64.0.1/32")!, ports: 80...80)],
                                                     protocols: [17])])
        #expect(!admits(&filter, TailnetPackets.tcp(alice, 40000, me, 80, flags: .syn)))
        #expect(admits(&filter, TailnetPackets.udp(alice, 40000, me, 80)))
    }

    @Test func replacingTheRulesTakesEffectAtOnce() {
        var filter = PacketFilter(rules: aliceToWeb)
        #expect(admits(&filter, TailnetPackets.tcp(alice, 40000, me, 80, flags: .syn)))
        filter.replaceRules([])
        #expect(!admits(&filter, TailnetPackets.tcp(alice, 40001, me, 80, flags: .syn)))
    }

    @Test func laterFragmentsPassAndGarbageIsDroppedAsMalformed() {
        var filter = PacketFilter(rules: [])
        let fragment = TailnetPackets.ip(alice, me, .udp, payloadLength: 16, fragmentOffset: 1480) { _ in }
        #expect(admits(&filter, fragment))
        #expect(!admits(&filter, [0x45, 0, 0]))
        #expect(!admits(&filter, []))
        #expect(filter.drops[.malformed] == 2)
    }
}
