import Wire

/// A sans-IO IPv4/IPv6 host stack: ICMP echo, UDP sockets and TCP connections for the addresses it owns.
///
/// Driving it (all on one thread, the engine's loop):
/// - hand every inbound IP packet to `receive(_:now:)`;
/// - call `handleTimers(now:)` when `nextDeadline` passes;
/// - after either, and after socket calls, pull outbound packets with `nextOutgoingPacket(into:now:)`
///   until it returns nil (the buffer must hold `mtu` bytes);
/// - drain readiness with `pollEvents(_:)` and use the socket calls (`listen`, `accept`, `connect`,
///   `send`, `receive`, `shutdown`, `close`, `abort`, UDP `bind`/`send`/`receive`).
///
/// Nothing here reads a clock, blocks or spawns work. Inbound payloads are copied once into socket
/// buffers; TCP output is built directly into the caller's buffer.
public final class IPStack {
    public let configuration: IPStackConfiguration
    public internal(set) var counters = IPStackCounters()
    /// The MTU in use (1280 ... 65535).
    public let mtu: Int

    var ipv4Addresses: [IPv4Address] = []
    var ipv6Addresses: [IPv6Address] = []
    var random: RandomSource
    var identifiers: ConnectionIdentifiers
    var synCookies: SynCookies
    var errorReplies: TokenBucket
    var output: PacketQueue
    /// Scratch space for building non-TCP packets before they are queued.
    let scratch: UnsafeMutableRawBufferPointer
    var ipv4Identification: UInt16 = 0

    // TCP
    /// Storage of every connection's send and receive buffers (`IPStackConfiguration.tcpBufferMemoryLimit`).
    let tcpBufferPool: BufferChunkPool
    var tcpSlots: [TCPSlot] = []
    /// Retransmissions of connections already freed (see `tcpRetransmissions`).
    var tcpRetransmissionsOfFreedConnections = TCPRetransmissionCounts()
    /// Each slot's next timer deadline (its connection's `nextDeadline`), in an indexed min-heap:
    /// `nextDeadline` reads the earliest in O(1) and `handleTimers` takes only the slots that are due,
    /// O(log n) each, so connections without a due timer cost nothing, however many there are.
    var tcpTimers = DeadlineHeap()
    /// Slots whose entry in `tcpTimers` must be read again from the connection: every slot that a
    /// segment, a timer, an output turn or a socket call touched since the last `nextDeadline`.
    var tcpDeadlinesStale: [Int32] = []
    /// Scratch list of the slots `handleTimers` found due (reused, so a timer turn does not allocate).
    var tcpDueSlots: [Int32] = []
    var tcpFreeSlots: [Int32] = []
    var tcpByFlow: [TCPFlow: Int32] = [:]
    var tcpOutputPending: [Int32] = []
    var listeners: [ListenerSlot] = []
    var listenerByPort: [UInt16: Int32] = [:]
    /// Connections in TIME-WAIT that no application holds, as compact records (`IPStack+TimeWait`).
    var tcpTimeWait = TimeWaitTable()
    /// Connections opened by each remote address's SYNs (`IPStackConfiguration.maximumConnectionsPerRemoteAddress`).
    var tcpPassiveByRemote: [IPAddress: Int] = [:]

    // UDP
    var udpSockets: [UDPSlot] = []
    var udpByPort: [UInt16: Int32] = [:]

    // Events
    var eventQueue: [SocketHandle] = []
    var eventsBeingDelivered: [SocketHandle] = []
    var tcpEvents: [Int32: SocketEvents] = [:]
    var listenerEvents: [Int32: SocketEvents] = [:]
    var udpEvents: [Int32: SocketEvents] = [:]

    var reassembly: FragmentReassembly

    public init(configuration: IPStackConfiguration) {
        self.configuration = configuration
        mtu = configuration.effectiveMTU
        for address in configuration.addresses {
            switch address {
            case let .v4(a): ipv4Addresses.append(a)
            case let .v6(a): ipv6Addresses.append(a)
            }
        }
        random = RandomSource(seed: configuration.randomSeed)
        identifiers = ConnectionIdentifiers(random: &random)
        synCookies = SynCookies(random: &random)
        errorReplies = TokenBucket(
            ratePerSecond: configuration.errorRepliesPerSecond, burst: configuration.errorReplyBurst)
        output = PacketQueue(capacity: Swift.max(configuration.outputQueueSize, 2 * 65536))
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        reassembly = FragmentReassembly(limits: configuration.reassembly)
        tcpBufferPool = BufferChunkPool(
            chunkSize: configuration.tcpBufferChunkSize, limit: Swift.max(configuration.tcpBufferMemoryLimit, 1))
        tcpSlots.reserveCapacity(64)
        tcpOutputPending.reserveCapacity(64)
        eventQueue.reserveCapacity(64)
        eventsBeingDelivered.reserveCapacity(64)
    }

    deinit {
        scratch.deallocate()
        reassembly.deallocate()
    }

    func isLocal(_ address: IPv4Address) -> Bool { ipv4Addresses.contains(address) }
    func isLocal(_ address: IPv6Address) -> Bool { ipv6Addresses.contains(address) }
    func isLocal(_ address: IPAddress) -> Bool {
        switch address {
        case let .v4(a): return isLocal(a)
        case let .v6(a): return isLocal(a)
        }
    }

    /// TCP MSS for a family: MTU less the IP and TCP headers (RFC 9293 §3.7.1; RFC 8200 §8.3).
    func maxSegmentSize(for address: IPAddress) -> Int {
        switch address {
        case .v4: return mtu - 40
        case .v6: return mtu - 60
        }
    }

    /// Peer MSS assumed without an MSS option (RFC 9293 §3.7.1: 536 for IPv4; RFC 8200 §8.3: 1220 for IPv6).
    func defaultPeerMSS(for address: IPAddress) -> Int {
        switch address {
        case .v4: return 536
        case .v6: return 1220
        }
    }

    // MARK: Input

    /// Processes one inbound IP packet (IPv4 or IPv6, no link-layer header). Invalid packets are dropped
    /// and counted in `counters`; `packet` is not retained.
    public func receive(_ packet: UnsafeRawBufferPointer, now: NetInstant) {
        counters.packetsReceived += 1
        guard packet.count > 0 else {
            counters.malformed += 1
            return
        }
        switch packet[0] >> 4 {
        case 4: receiveIPv4(packet, now: now)
        case 6: receiveIPv6(packet, now: now)
        default: counters.malformed += 1
        }
    }

    private func receiveIPv4(_ bytes: UnsafeRawBufferPointer, now: NetInstant) {
        let ip: IPv4Packet
        do { ip = try IPv4Packet(validating: bytes) } catch {
            counters.malformed += 1
            return
        }
        guard ip.isHeaderChecksumValid else {
            counters.badChecksum += 1
            return
        }
        guard isLocal(ip.destination) else {
            counters.wrongAddress += 1
            return
        }
        // RFC 1122 §3.2.1.3: discard packets from a broadcast, multicast or unspecified source.
        let source = ip.source
        guard !source.isUnspecified, !source.isMulticast, !source.isBroadcast, !isLocal(source) else {
            counters.badSource += 1
            return
        }
        if ip.isFragment {
            counters.fragmentsReceived += 1
            let outcome = reassembly.addIPv4Fragment(ip, now: now)
            deliverReassembled(outcome, protocol: ip.protocol, source: .v4(source), destination: .v4(ip.destination), now: now)
            return
        }
        deliver(
            protocol: ip.protocol, source: .v4(source), destination: .v4(ip.destination), payload: ip.payload,
            invokingPacket: ip.bytes, now: now)
    }

    /// Acts on what reassembly made of a fragment (either family): nothing yet, a drop, or a whole
    /// datagram to deliver (no invoking packet: an error reply would quote only one fragment).
    private func deliverReassembled(
        _ outcome: FragmentReassembly.Outcome, protocol: IPProtocol, source: IPAddress, destination: IPAddress,
        now: NetInstant
    ) {
        switch outcome {
        case .incomplete:
            return
        case .dropped:
            counters.fragmentsDropped += 1
        case let .complete(datagram):
            counters.datagramsReassembled += 1
            datagram.withPayload { payload in
                deliver(protocol: `protocol`, source: source, destination: destination, payload: payload,
                        invokingPacket: nil, now: now)
            }
            reassembly.release(datagram)
        }
    }

    private func receiveIPv6(_ bytes: UnsafeRawBufferPointer, now: NetInstant) {
        let ip: IPv6Packet
        do { ip = try IPv6Packet(validating: bytes) } catch {
            counters.malformed += 1
            return
        }
        guard isLocal(ip.destination) else {
            counters.wrongAddress += 1
            return
        }
        let source = ip.source
        // RFC 4291 §2.5.2 / §2.7: the unspecified and multicast addresses are never sources.
        guard !source.isUnspecified, !source.isMulticast, !isLocal(source) else {
            counters.badSource += 1
            return
        }
        if let fragment = ip.fragmentHeader, !fragment.isAtomic {
            counters.fragmentsReceived += 1
            let outcome = reassembly.addIPv6Fragment(ip, header: fragment, now: now)
            deliverReassembled(outcome, protocol: fragment.nextHeader, source: .v6(source), destination: .v6(ip.destination), now: now)
            return
        }
        deliver(
            protocol: ip.upperLayerProtocol, source: .v6(source), destination: .v6(ip.destination),
            payload: ip.payload, invokingPacket: ip.bytes, now: now)
    }

    /// Hands an upper-layer payload to ICMP, UDP or TCP. `invokingPacket` is the whole IP packet when
    /// an ICMP error may quote it (nil for reassembled datagrams).
    private func deliver(
        protocol: IPProtocol, source: IPAddress, destination: IPAddress, payload: UnsafeRawBufferPointer,
        invokingPacket: UnsafeRawBufferPointer?, now: NetInstant
    ) {
        switch (`protocol`, source) {
        case (.tcp, _):
            receiveTCP(payload, source: source, destination: destination, now: now)
        case (.udp, _):
            receiveUDP(payload, source: source, destination: destination, invokingPacket: invokingPacket, now: now)
        case (.icmp, .v4):
            receiveICMPv4(payload, source: source, destination: destination, now: now)
        case (.icmpv6, .v6):
            receiveICMPv6(payload, source: source, destination: destination, now: now)
        default:
            counters.unknownProtocol += 1
        }
    }

    // MARK: Output

    /// Writes the next outbound IP packet into `buffer` and returns its length, or nil when nothing is
    /// waiting. `buffer` must hold at least `mtu` bytes.
    public func nextOutgoingPacket(into buffer: UnsafeMutableRawBufferPointer, now: NetInstant) -> Int? {
        var payload = GatherList()
        guard let length = nextPacket(into: buffer, payload: &payload, now: now) else { return nil }
        payload.copy(into: buffer)
        return length
    }

    /// Like ``nextOutgoingPacket(into:now:)``, but a TCP segment's payload stays in its connection's
    /// send buffer: `buffer` gets the headers and `payload` says where the rest of the packet's bytes
    /// are (runs with their offsets in the packet; empty when `buffer` holds the whole packet). The
    /// checksums already cover those bytes.
    ///
    /// The runs stay valid and unchanged until ``releaseGatheredPayloads()``: until then the send
    /// buffers give no chunk back to the pool, even when data is acknowledged or a connection is freed,
    /// so a consumer on another thread (the WireGuard seal) may still read them. Call it once every
    /// packet taken this way has been consumed.
    public func nextOutgoingPacket(
        into buffer: UnsafeMutableRawBufferPointer, gathering payload: inout GatherList, now: NetInstant
    ) -> Int? {
        payload = GatherList()
        let length = nextPacket(into: buffer, payload: &payload, now: now)
        if !payload.isEmpty { tcpBufferPool.holdReturns() }
        return length
    }

    /// Ends the loan of the payload runs handed out by ``nextOutgoingPacket(into:gathering:now:)``: the
    /// chunks that send buffers gave back meanwhile return to the pool.
    public func releaseGatheredPayloads() {
        tcpBufferPool.releaseHeldReturns()
    }

    private func nextPacket(
        into buffer: UnsafeMutableRawBufferPointer, payload: inout GatherList, now: NetInstant
    ) -> Int? {
        if let length = output.pop(into: buffer) {
            counters.packetsSent += 1
            return length
        }
        if !output.isEmpty {
            // A queued packet larger than the caller's buffer can never be sent.
            output.dropFirst()
            counters.outputQueueDrops += 1
        }
        while let index = tcpOutputPending.last {
            if let length = nextTCPPacket(slot: index, into: buffer, payload: &payload, now: now) {
                counters.packetsSent += 1
                return length
            }
            tcpOutputPending.removeLast()
            tcpSlots[Int(index)].outputPending = false
            reclaimIfFinished(slot: index)
        }
        return nil
    }

    /// Queues a non-TCP packet built in `scratch` (`length` bytes).
    func queueScratch(length: Int) {
        if !output.push(UnsafeRawBufferPointer(rebasing: scratch.prefix(length))) {
            counters.outputQueueDrops += 1
        }
    }

    /// Writes an IP header for `payloadLength` bytes of `protocol` at the start of `buffer` and returns
    /// the header's length.
    func emitIPHeader(
        into buffer: UnsafeMutableRawBufferPointer, source: IPAddress, destination: IPAddress,
        protocol: IPProtocol, payloadLength: Int
    ) -> Int? {
        switch (source, destination) {
        case let (.v4(s), .v4(d)):
            ipv4Identification &+= 1
            let header = IPv4Header(
                source: s, destination: d, protocol: `protocol`, payloadLength: payloadLength,
                timeToLive: configuration.timeToLive, identification: ipv4Identification)
            do { try header.emit(into: buffer) } catch { return nil }
            return IPv4Header.length
        case let (.v6(s), .v6(d)):
            let header = IPv6Header(
                source: s, destination: d, nextHeader: `protocol`, payloadLength: payloadLength,
                hopLimit: configuration.timeToLive)
            do { try header.emit(into: buffer) } catch { return nil }
            return IPv6Header.length
        default:
            return nil
        }
    }

    static func ipHeaderLength(_ address: IPAddress) -> Int {
        switch address {
        case .v4: return IPv4Header.length
        case .v6: return IPv6Header.length
        }
    }

    // MARK: Timers

    /// When `handleTimers(now:)` must next run; nil when no timer is pending.
    public var nextDeadline: NetInstant? {
        refreshStaleDeadlines()
        return earliest(earliest(reassembly.nextDeadline, tcpTimers.earliest), tcpTimeWait.nextExpiry())
    }

    /// Reads the next deadline of every slot touched since the last call into `tcpTimers`.
    func refreshStaleDeadlines() {
        for index in tcpDeadlinesStale {
            let i = Int(index)
            tcpSlots[i].deadlineStale = false
            tcpTimers.schedule(index, at: tcpSlots[i].connection?.nextDeadline)
        }
        tcpDeadlinesStale.removeAll(keepingCapacity: true)
    }

    /// Slot `index`'s connection changed (or may change at its next output turn): its deadline is
    /// read again before the next `nextDeadline` or `handleTimers`.
    func markDeadlineStale(_ index: Int32) {
        guard !tcpSlots[Int(index)].deadlineStale else { return }
        tcpSlots[Int(index)].deadlineStale = true
        tcpDeadlinesStale.append(index)
    }

    /// Runs every timer due at `now` (TCP retransmission, delayed ACK, persist, keepalive, TIME-WAIT;
    /// fragment reassembly expiry). Only the connections whose deadline is due are visited (counted in
    /// `counters.tcpTimerVisits`), in slot order; the others cost nothing.
    public func handleTimers(now: NetInstant) {
        reassembly.expire(now: now)
        expireTimeWaitRecords(now: now)
        refreshStaleDeadlines()
        tcpDueSlots.removeAll(keepingCapacity: true)
        while let index = tcpTimers.popDue(now: now) {
            counters.tcpTimerVisits += 1
            tcpDueSlots.append(index)
            markDeadlineStale(index)  // back into the heap with whatever deadline its timers leave
        }
        tcpDueSlots.sort()
        for index in tcpDueSlots {
            let i = Int(index)
            guard let deadline = tcpSlots[i].connection?.nextDeadline, deadline <= now else { continue }
            let events = tcpSlots[i].connection!.handleTimers(now: now)
            connectionChanged(slot: index, events: events)
        }
    }

    // MARK: Events

    /// Calls `body` for every socket whose readiness changed since the last call, with what changed.
    public func pollEvents(_ body: (SocketHandle, SocketEvents) -> Void) {
        // Swap buffers instead of copying, so draining does not allocate; events posted by `body`
        // land in the fresh queue.
        swap(&eventQueue, &eventsBeingDelivered)
        defer { eventsBeingDelivered.removeAll(keepingCapacity: true) }
        for handle in eventsBeingDelivered {
            switch handle {
            case let .tcp(h):
                guard let events = tcpEvents.removeValue(forKey: h.index) else { continue }
                if tcpSlots.indices.contains(Int(h.index)), tcpSlots[Int(h.index)].generation == h.generation {
                    body(handle, events)
                }
            case let .listener(h):
                guard let events = listenerEvents.removeValue(forKey: h.index) else { continue }
                body(handle, events)
            case let .udp(h):
                guard let events = udpEvents.removeValue(forKey: h.index) else { continue }
                body(handle, events)
            }
        }
    }

    func post(_ events: SocketEvents, to handle: SocketHandle) {
        guard !events.isEmpty else { return }
        switch handle {
        case let .tcp(h):
            if let existing = tcpEvents[h.index] {
                tcpEvents[h.index] = existing.union(events)
            } else {
                tcpEvents[h.index] = events
                eventQueue.append(handle)
            }
        case let .listener(h):
            if let existing = listenerEvents[h.index] {
                listenerEvents[h.index] = existing.union(events)
            } else {
                listenerEvents[h.index] = events
                eventQueue.append(handle)
            }
        case let .udp(h):
            if let existing = udpEvents[h.index] {
                udpEvents[h.index] = existing.union(events)
            } else {
                udpEvents[h.index] = events
                eventQueue.append(handle)
            }
        }
    }
}
