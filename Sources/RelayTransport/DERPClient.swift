import Glibc
import Relay
import UDPTransport
import Wire
import WireGuard

/// A node's connections to the relays of its DERP map: the home region always (reconnecting with
/// backoff), other regions on demand while packets go to them, closed again when idle.
///
/// The owner's loop polls ``appendPollDescriptors(to:)`` together with its other descriptors, then
/// calls ``service(now:polled:_:)`` with the same slice of results; ``nextDeadline(now:)`` joins its
/// own deadlines. Packets arrive as views into a connection's receive buffer (no copy) and go out
/// with ``send(_:to:region:now:)`` (no copy unless the relay is slow). Not thread-safe: one owner.
public final class DERPClient {
    /// Settings of a client (implementation choices; tailscale's values noted where they differ).
    public struct Configuration: Sendable {
        /// The node's key: its WireGuard key is its address on every relay.
        public var privateKey: PrivateKey
        /// Use plain HTTP for relays marked `InsecureForTests` (as tailscale's
        /// `TS_DEBUG_USE_DERP_HTTP` does); other relays always get verified TLS.
        public var plainHTTPForTestRelays = false
        /// Bytes each connection may queue for a slow relay before dropping packets.
        public var queueCapacity = DERPConnection.defaultQueueCapacity
        public var timing = DERPClientSession.Timing()
        /// First reconnect delay, doubled on each failure up to ``maximumBackoff``, with jitter.
        public var minimumBackoff: Duration = .milliseconds(250)
        public var maximumBackoff: Duration = .seconds(15)
        /// A non-home region unused this long is disconnected (tailscale: 60 s).
        public var idleRegionTimeout: Duration = .seconds(60)
        /// Seeds reconnect jitter and ping data (not secret).
        public var seed: UInt64 = 0x5DEE_CE66_D1CE_5EED

        public init(privateKey: PrivateKey) { self.privateKey = privateKey }
    }

    /// What a client reports while being serviced.
    public enum Event {
        case established(region: Int, DERPServerInfo)
        /// A packet from `source` via `region`; a view valid during the callback, writable in place.
        case packet(region: Int, source: PublicKey, payload: UnsafeMutableRawBufferPointer)
        case peerGone(region: Int, PublicKey, reason: DERPPeerGoneReason)
        case closed(region: Int, reason: String, retryIn: Duration)
    }

    /// One region's state, for status output.
    public struct RegionStatus: Sendable, Equatable {
        public var regionID: Int
        public var isHome: Bool
        public var phase: DERPConnection.Phase?
        public var latency: Duration?
        public var lastError: String?
        public var packetsSent: Int
        public var packetsReceived: Int
        public var droppedQueueFull: Int
        public var droppedNotConnected: Int
    }

    private struct Region {
        var connection: DERPConnection?
        var resolver: HostResolver?
        var failures = 0
        var retryAt = NetInstant.zero
        var lastUsed = NetInstant.zero
        var latency: Duration?
        var lastError: String?
        var dropped = (queueFull: 0, notConnected: 0)
        var totals = (sent: 0, received: 0)
    }

    private var configuration: Configuration
    private var map = DERPMap(regions: [:])
    public private(set) var homeRegion: Int?
    private var regions: [Int: Region] = [:]
    private var polledRegions: [Int] = []
    private var random: UInt64

    public init(configuration: Configuration) {
        self.configuration = configuration
        random = configuration.seed
    }

    /// Replaces the map and the home region; connections to regions that left the map close.
    public func setMap(_ map: DERPMap, home: Int?, now: NetInstant) {
        self.map = map
        homeRegion = home.flatMap { map.regions[$0] == nil ? nil : $0 }
        for id in regions.keys where map.regions[id] == nil {
            regions[id]?.connection?.close()
            regions[id] = nil
        }
        if let homeRegion, regions[homeRegion] == nil { regions[homeRegion] = Region(lastUsed: now) }
    }

    /// Sends `packet` to the peer `destination` through `region`, connecting to it if needed
    /// (packets sent before the connection is up are dropped and counted; WireGuard retries).
    @discardableResult
    public func send(_ packet: UnsafeRawBufferPointer, to destination: PublicKey, region id: Int, now: NetInstant) -> DERPSendOutcome {
        guard map.regions[id] != nil else { return .droppedNotConnected }
        var region = regions[id] ?? Region()
        region.lastUsed = now
        let outcome: DERPSendOutcome
        if let connection = region.connection {
            outcome = connection.send(packet, to: destination)
        } else {
            region.dropped.notConnected += 1
            outcome = .droppedNotConnected
        }
        regions[id] = region
        return outcome
    }

    /// Appends one `pollfd` per open connection; pass the same entries back to ``service(now:polled:_:)``.
    public func appendPollDescriptors(to fds: inout [pollfd]) {
        polledRegions.removeAll(keepingCapacity: true)
        for (id, region) in regions {
            guard let connection = region.connection, connection.phase != .closed else { continue }
            fds.append(pollfd(fd: connection.descriptor, events: connection.pollEvents, revents: 0))
            polledRegions.append(id)
        }
    }

    /// Services the connections with the poll results from ``appendPollDescriptors(to:)``, starts
    /// and retires connections, and reports what happened to `deliver`.
    public func service(now: NetInstant, polled: UnsafeBufferPointer<pollfd>, _ deliver: (Event) -> Void) {
        var serviced = Set<Int>()
        for (index, id) in polledRegions.enumerated() where index < polled.count {
            guard let connection = regions[id]?.connection, connection.descriptor == polled[index].fd else { continue }
            let revents = polled[index].revents
            let readable = revents & Int16(POLLIN | POLLHUP | POLLERR) != 0
            let writable = revents & Int16(POLLOUT | POLLERR) != 0
            serviceConnection(id, connection, now: now, readable: readable, writable: writable, deliver)
            serviced.insert(id)
        }
        for id in Array(regions.keys) {
            guard var region = regions[id] else { continue }
            if let connection = region.connection {
                // Timers, and connections opened after the poll set was built.
                if !serviced.contains(id) { serviceConnection(id, connection, now: now, readable: false, writable: false, deliver) }
                region = regions[id]!
                if id != homeRegion, now.since(region.lastUsed) >= configuration.idleRegionTimeout, let open = region.connection {
                    open.close()
                    region.connection = nil
                    regions[id] = region
                }
                continue
            }
            guard id == homeRegion || now.since(region.lastUsed) < configuration.idleRegionTimeout else {
                regions[id] = nil
                continue
            }
            guard now >= region.retryAt else { continue }
            connect(id, now: now, deliver)
        }
    }

    /// The earliest time the client needs servicing without readiness.
    public func nextDeadline(now: NetInstant) -> NetInstant? {
        var deadline: NetInstant?
        for (id, region) in regions {
            var candidate: NetInstant?
            if let connection = region.connection {
                candidate = connection.nextDeadline(now: now)
                if id != homeRegion { candidate = earliest(candidate, region.lastUsed + configuration.idleRegionTimeout) }
            } else if region.resolver != nil {
                candidate = now + .milliseconds(20)
            } else {
                candidate = region.retryAt
            }
            deadline = earliest(deadline, candidate)
        }
        return deadline
    }

    /// Each known region's state.
    public var status: [RegionStatus] {
        regions.keys.sorted().map { id in
            let region = regions[id]!
            let counters = region.connection?.counters
            return RegionStatus(
                regionID: id, isHome: id == homeRegion, phase: region.connection?.phase, latency: region.latency,
                lastError: region.lastError,
                packetsSent: region.totals.sent + (counters?.packetsSent ?? 0),
                packetsReceived: region.totals.received + (counters?.packetsReceived ?? 0),
                droppedQueueFull: region.dropped.queueFull + (counters?.droppedQueueFull ?? 0),
                droppedNotConnected: region.dropped.notConnected + (counters?.droppedNotConnected ?? 0))
        }
    }

    /// True when `region` has an established connection.
    public func isEstablished(region: Int) -> Bool { regions[region]?.connection?.phase == .established }

    /// Closes every connection.
    public func close() {
        for id in regions.keys { regions[id]?.connection?.close() }
        regions = [:]
    }

    // MARK: - Internals

    private func serviceConnection(_ id: Int, _ connection: DERPConnection, now: NetInstant, readable: Bool, writable: Bool,
                                   _ deliver: (Event) -> Void) {
        connection.service(now: now, readable: readable, writable: writable) { event in
            switch event {
            case .established(let info):
                regions[id]?.failures = 0
                regions[id]?.lastError = nil
                deliver(.established(region: id, info))
                connection.measureLatency(now: now)
            case .packet(let source, let payload):
                deliver(.packet(region: id, source: source, payload: payload))
            case .peerGone(let key, let reason):
                deliver(.peerGone(region: id, key, reason: reason))
            case .latency(let rtt):
                regions[id]?.latency = rtt
            case .health:
                break
            case .closed(let reason, let hint):
                let delay = hint ?? backoff(failures: regions[id]?.failures ?? 0)
                retire(id, connection, reason: reason, retryAt: now + delay)
                deliver(.closed(region: id, reason: reason, retryIn: delay))
            }
        }
    }

    private func retire(_ id: Int, _ connection: DERPConnection, reason: String, retryAt: NetInstant) {
        guard var region = regions[id] else { return }
        region.totals.sent += connection.counters.packetsSent
        region.totals.received += connection.counters.packetsReceived
        region.dropped.queueFull += connection.counters.droppedQueueFull
        region.dropped.notConnected += connection.counters.droppedNotConnected
        region.connection = nil
        region.failures += 1
        region.lastError = reason
        region.retryAt = retryAt
        regions[id] = region
    }

    private func connect(_ id: Int, now: NetInstant, _ deliver: (Event) -> Void) {
        guard var region = regions[id], let mapRegion = map.regions[id] else { return }
        let nodes = mapRegion.nodes.filter { $0.stunOnly != true }
        guard !nodes.isEmpty else {
            region.lastError = "region \(id) has no relay nodes"
            region.retryAt = now + configuration.maximumBackoff
            regions[id] = region
            return
        }
        let node = nodes[region.failures % nodes.count]
        var address = Self.literalAddress(of: node)
        if address == nil {
            if let resolver = region.resolver {
                switch resolver.result {
                case .pending: return
                case .resolved(let addresses):
                    region.resolver = nil
                    address = addresses.first
                case .failed(let reason):
                    region.resolver = nil
                    regions[id] = region
                    fail(id, reason: reason, now: now, deliver)
                    return
                }
            } else {
                region.resolver = HostResolver(host: node.hostName)
                regions[id] = region
                return
            }
        }
        guard let address else { return }
        let security: DERPTransportSecurity = node.insecureForTests == true
            ? (configuration.plainHTTPForTestRelays ? .plainHTTP : .tls(verifyCertificate: false))
            : .tls(verifyCertificate: true)
        do {
            region.connection = try DERPConnection(
                node: node, address: address, privateKey: configuration.privateKey, preferred: id == homeRegion,
                security: security, queueCapacity: configuration.queueCapacity, timing: configuration.timing,
                pingSeed: nextRandom(), now: now)
            regions[id] = region
        } catch {
            regions[id] = region
            fail(id, reason: "connect to \(address) port \(node.port): \(error)", now: now, deliver)
        }
    }

    private func fail(_ id: Int, reason: String, now: NetInstant, _ deliver: (Event) -> Void) {
        guard var region = regions[id] else { return }
        let delay = backoff(failures: region.failures)
        region.failures += 1
        region.lastError = reason
        region.retryAt = now + delay
        regions[id] = region
        deliver(.closed(region: id, reason: reason, retryIn: delay))
    }

    /// The delay before attempt `failures + 1`: exponential from the minimum, capped, with jitter
    /// in [½, 1) of the step so that many nodes do not return to a restarted relay at once.
    private func backoff(failures: Int) -> Duration {
        let step = configuration.minimumBackoff * (1 << min(failures, 16))
        let capped = min(step, configuration.maximumBackoff)
        let fraction = 0.5 + Double(nextRandom() >> 11) / Double(1 << 53) / 2
        return capped * fraction
    }

    /// SplitMix64 over the configured seed.
    private func nextRandom() -> UInt64 {
        random &+= 0x9E37_79B9_7F4A_7C15
        var z = random
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The address to dial without resolving: the map's IPv4, else IPv6, else a literal host name.
    static func literalAddress(of node: DERPNode) -> IPAddress? {
        for candidate in [node.ipv4, node.ipv6, node.hostName] {
            guard let text = candidate, !text.isEmpty, text != "none" else { continue }
            if let address = IPAddress(text) { return address }
        }
        return nil
    }
}

func earliest(_ a: NetInstant?, _ b: NetInstant?) -> NetInstant? {
    guard let a else { return b }
    guard let b else { return a }
    return min(a, b)
}
