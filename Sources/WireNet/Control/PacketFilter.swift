import Wire
import WireGuard

/// The tailnet's access policy on inbound packets, as tailscale's `wgengine/filter` applies it: a
/// packet that would open a flow to this node — a TCP SYN without ACK, a UDP datagram that does not
/// answer a flow this node opened, an ICMP echo request, any other protocol — is delivered only when
/// some ``FilterRule`` matches its source, destination (and port) and protocol. Everything else of an
/// established flow passes (TCP segments with ACK, ICMP replies and errors, replies to our UDP).
///
/// Sans-IO and owned by the engine's loop thread: packets, rules and `now` come in, a verdict and
/// counters come out. It sits between WireGuard's decryption and the packet backend, so it holds for
/// the userspace stack and a kernel TUN device alike.
struct PacketFilter {
    /// Why a packet was dropped.
    enum DropReason: Int, CaseIterable, Sendable {
        /// A TCP SYN no rule allows.
        case tcpNotAllowed
        /// A UDP datagram that is no reply and that no rule allows.
        case udpNotAllowed
        /// An ICMP echo request no rule allows.
        case icmpNotAllowed
        /// Another protocol no rule allows.
        case otherNotAllowed
        /// Not a parseable IPv4 or IPv6 packet.
        case malformed
    }

    /// Dropped packets by reason.
    struct Drops: Sendable, Equatable {
        var counts = [UInt64](repeating: 0, count: DropReason.allCases.count)
        subscript(reason: DropReason) -> UInt64 { counts[reason.rawValue] }
        var total: UInt64 { counts.reduce(0, +) }
    }

    private(set) var rules: [FilterRule]
    private(set) var drops = Drops()
    private var flows: UDPFlowTracker

    init(rules: [FilterRule], flows: UDPFlowTracker = UDPFlowTracker()) {
        self.rules = rules
        self.flows = flows
    }

    /// Replaces the rules (a netmap changed the policy); open UDP flows stay open.
    mutating func replaceRules(_ rules: [FilterRule]) { self.rules = rules }

    /// The packet's addresses, protocol and (for TCP/UDP) ports, read with `Wire`'s views.
    private struct Summary {
        var source: IPAddress
        var destination: IPAddress
        var proto: UInt8
        /// Upper-layer header bytes; empty for a non-first fragment.
        var transport: UnsafeRawBufferPointer
        var isLaterFragment: Bool
    }

    private static func summarize(_ packet: UnsafeRawBufferPointer) -> Summary? {
        guard let first = packet.first else { return nil }
        switch first >> 4 {
        case 4:
            guard let ip = try? IPv4Packet(validating: packet) else { return nil }
            return Summary(source: .v4(ip.source), destination: .v4(ip.destination), proto: ip.protocol.rawValue,
                           transport: ip.payload, isLaterFragment: ip.fragmentOffset != 0)
        case 6:
            guard let ip = try? IPv6Packet(validating: packet) else { return nil }
            return Summary(source: .v6(ip.source), destination: .v6(ip.destination), proto: ip.upperLayerProtocol.rawValue,
                           transport: ip.payload, isLaterFragment: (ip.fragmentHeader?.fragmentOffset ?? 0) != 0)
        default:
            return nil
        }
    }

    private static func port(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    /// Whether an inbound packet (already authenticated by WireGuard) may reach the backend; counts drops.
    mutating func admitsInbound(_ packet: UnsafeRawBufferPointer, now: NetInstant) -> Bool {
        guard let p = Self.summarize(packet) else { return drop(.malformed) }
        // Later fragments carry no header to judge; the first fragment was judged.
        if p.isLaterFragment { return true }
        switch p.proto {
        case IPProtocol.tcp.rawValue:
            guard p.transport.count >= 14 else { return drop(.malformed) }
            let flags = p.transport[13]
            let syn: UInt8 = 0x02, ack: UInt8 = 0x10
            guard flags & syn != 0, flags & ack == 0 else { return true }
            return matches(p, port: Self.port(p.transport, at: 2)) ? true : drop(.tcpNotAllowed)
        case IPProtocol.udp.rawValue:
            guard p.transport.count >= 8 else { return drop(.malformed) }
            let sourcePort = Self.port(p.transport, at: 0)
            let destinationPort = Self.port(p.transport, at: 2)
            let flow = UDPFlowTracker.Flow(localPort: destinationPort, remote: p.source, remotePort: sourcePort)
            if flows.isReply(flow, now: now) { return true }
            return matches(p, port: destinationPort) ? true : drop(.udpNotAllowed)
        case IPProtocol.icmp.rawValue, 58:
            guard let type = p.transport.first else { return drop(.malformed) }
            let echoRequest: UInt8 = p.proto == 58 ? 128 : 8  // RFC 4443 §4.1, RFC 792
            guard type == echoRequest else { return true }
            return matches(p, port: nil) ? true : drop(.icmpNotAllowed)
        default:
            return matchesAllPorts(p) ? true : drop(.otherNotAllowed)
        }
    }

    /// Notes an outbound packet: a UDP datagram opens (or refreshes) a flow whose replies pass.
    mutating func noteOutbound(_ packet: UnsafeRawBufferPointer, now: NetInstant) {
        guard let first = packet.first else { return }
        // Cheap protocol check before any parsing: only UDP needs tracking.
        let version = first >> 4
        if version == 4, packet.count > 9, packet[9] != IPProtocol.udp.rawValue { return }
        guard let p = Self.summarize(packet), p.proto == IPProtocol.udp.rawValue, !p.isLaterFragment,
              p.transport.count >= 8 else { return }
        let flow = UDPFlowTracker.Flow(localPort: Self.port(p.transport, at: 0), remote: p.destination,
                                       remotePort: Self.port(p.transport, at: 2))
        flows.noteOutbound(flow, now: now)
    }

    /// A rule admits the source, the destination (and `port`, unless nil) and the protocol.
    private func matches(_ p: Summary, port: UInt16?) -> Bool {
        for rule in rules where rule.protocols.contains(p.proto) {
            guard rule.sources.contains(where: { $0.contains(p.source) }) else { continue }
            for destination in rule.destinations where destination.prefix.contains(p.destination) {
                if let port, !destination.ports.contains(port) { continue }
                return true
            }
        }
        return false
    }

    /// For protocols without ports: a rule naming the protocol with all ports open (tailscale's
    /// `matchProtoAndIPsOnlyIfAllPorts`).
    private func matchesAllPorts(_ p: Summary) -> Bool {
        for rule in rules where rule.protocols.contains(p.proto) {
            guard rule.sources.contains(where: { $0.contains(p.source) }) else { continue }
            if rule.destinations.contains(where: { $0.prefix.contains(p.destination) && $0.ports == 0...65535 }) { return true }
        }
        return false
    }

    private mutating func drop(_ reason: DropReason) -> Bool {
        drops.counts[reason.rawValue] += 1
        return false
    }
}
