import Wire
import WireGuard

/// The UDP flows this node opened, so that the packet filter lets their replies in (tailscale keeps
/// the same in its filter's `state`, an LRU of recent outbound UDP flows).
///
/// Sans-IO: time comes in with each call. Bounded: at most ``capacity`` flows; an idle flow expires
/// after ``idleTimeout``; when full, expired flows are swept, then an arbitrary one makes room.
struct UDPFlowTracker {
    struct Flow: Hashable {
        var localPort: UInt16
        var remote: IPAddress
        var remotePort: UInt16
    }

    /// Flows remembered at most (tailscale's filter keeps 512; a server proxy needs more).
    let capacity: Int
    /// How long a flow stays open without outbound traffic (Linux conntrack's UDP stream timeout
    /// is 120 s, `nf_conntrack_udp_timeout_stream`).
    let idleTimeout: Duration
    private var flows: [Flow: NetInstant] = [:]

    init(capacity: Int = 8192, idleTimeout: Duration = .seconds(120)) {
        self.capacity = capacity
        self.idleTimeout = idleTimeout
    }

    var count: Int { flows.count }

    /// Notes an outbound datagram from `localPort` to `remote`:`remotePort`.
    mutating func noteOutbound(_ flow: Flow, now: NetInstant) {
        if flows[flow] != nil {
            flows[flow] = now
            return
        }
        if flows.count >= capacity {
            flows = flows.filter { now.since($0.value) < idleTimeout }
            if flows.count >= capacity { flows.remove(at: flows.startIndex) }
        }
        flows[flow] = now
    }

    /// Whether an inbound datagram to `localPort` from `remote`:`remotePort` answers an open flow.
    func isReply(_ flow: Flow, now: NetInstant) -> Bool {
        guard let last = flows[flow] else { return false }
        return now.since(last) < idleTimeout
    }
}
