import Wire

/// TCP demultiplexing, listeners (RFC 9293 §3.10.7.2), closed-port resets (RFC 9293 §3.10.7.1) and
/// building outgoing segments.
extension IPStack {
    func receiveTCP(_ bytes: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress, now: NetInstant) {
        let segment: TCPSegment
        do { segment = try TCPSegment(validating: bytes) } catch {
            counters.malformed += 1
            return
        }
        let checksumValid: Bool
        switch (source, destination) {
        case let (.v4(s), .v4(d)): checksumValid = segment.isChecksumValid(source: s, destination: d)
        case let (.v6(s), .v6(d)): checksumValid = segment.isChecksumValid(source: s, destination: d)
        default: checksumValid = false
        }
        guard checksumValid else {
            counters.badChecksum += 1
            return
        }
        guard segment.sourcePort != 0, segment.destinationPort != 0 else {
            counters.malformed += 1
            return
        }
        counters.tcpSegmentsReceived += 1
        let header = TCPSegmentHeader(segment)
        let flow = TCPFlow(
            local: IPEndpoint(destination, segment.destinationPort), remote: IPEndpoint(source, segment.sourcePort))
        if let index = tcpByFlow[flow] {
            let i = Int(index)
            let reopens = tcpSlots[i].connection?.acceptsNewConnection(from: header) ?? false
            if reopens, let listener = listenerByPort[segment.destinationPort],
                listeners[Int(listener)].accepts(destination)
            {
                // RFC 9293 §3.10.7.4 (TIME-WAIT): a new SYN may start a new incarnation.
                freeSlot(index)
                listenSegmentArrives(listener: listener, header, payload: segment.payload, flow: flow, now: now)
                return
            }
            if tcpSlots[i].connection != nil {
                let events = tcpSlots[i].connection!.handle(header, payload: segment.payload, now: now)
                if let ack = tcpSlots[i].connection!.nextImmediateAck(now: now) {
                    // Out-of-order data, a filled hole or a duplicate: its ACK leaves now, ahead of the
                    // segments of the same batch still to be processed (RFC 5681 §4.2).
                    let area = UnsafeMutableRawBufferPointer(rebasing: scratch[...])
                    var payload = GatherList()
                    if let length = emitSegment(ack, slot: i, into: area, payload: &payload) {
                        payload.copy(into: area)  // a queued packet is whole (a pure ACK has no payload anyway)
                        queueScratch(length: length)
                    }
                }
                connectionChanged(slot: index, events: events)
                return
            }
        }
        if tcpTimeWait[flow] != nil {
            let listener = listenerByPort[segment.destinationPort].flatMap {
                listeners[Int($0)].accepts(destination) ? $0 : nil
            }
            let outcome = timeWaitSegmentArrives(header, flow: flow, reopenAllowed: listener != nil, now: now)
            if case .reopen = outcome, let listener {
                listenSegmentArrives(listener: listener, header, payload: segment.payload, flow: flow, now: now)
            }
            return
        }
        if let listener = listenerByPort[segment.destinationPort], listeners[Int(listener)].accepts(destination) {
            listenSegmentArrives(listener: listener, header, payload: segment.payload, flow: flow, now: now)
            return
        }
        counters.tcpNoSocket += 1
        sendReset(replyingTo: header, flow: flow, now: now)
    }

    /// SYN,ACK retransmissions of a connection that arrives while its listener's SYN queue is at least
    /// half full (as Linux's `reqsk_timer_handler` lowers `tcp_synack_retries` to 2 for a crowded queue):
    /// with the 1 s initial RTO such a half-open connection is dropped after 7 s.
    static let synAckRetransmissionsUnderPressure = 2

    /// RFC 9293 §3.10.7.2, LISTEN state.
    private func listenSegmentArrives(
        listener: Int32, _ header: TCPSegmentHeader, payload: UnsafeRawBufferPointer, flow: TCPFlow, now: NetInstant
    ) {
        let control = header.control
        // First, check for a RST: ignore it.
        if control.contains(.rst) { return }
        // Second, check for an ACK: the final ACK of a SYN-cookie handshake rebuilds its connection;
        // any other gets <SEQ=SEG.ACK><CTL=RST>.
        if control.contains(.ack) {
            if completeSynCookieHandshake(listener: listener, header, payload: payload, flow: flow, now: now) {
                return
            }
            sendReset(replyingTo: header, flow: flow, now: now)
            return
        }
        // Third, check for a SYN; anything else is dropped.
        guard control.contains(.syn) else { return }
        let l = Int(listener)
        guard listeners[l].acceptQueue.count < listeners[l].backlog else {
            counters.tcpBacklogDrops += 1
            return
        }
        guard tcpPassiveByRemote[flow.remote.address, default: 0] < configuration.maximumConnectionsPerRemoteAddress
        else {
            counters.tcpPerAddressLimitDrops += 1
            return
        }
        if listeners[l].synQueue.count >= listeners[l].backlog, configuration.synCookies {
            // The SYN queue is full: answer statelessly (RFC 4987 §3.6).
            sendSynCookie(listener: listener, header, flow: flow, now: now)
            return
        }
        if listeners[l].synQueue.count >= listeners[l].backlog, let oldest = listeners[l].synQueue.first {
            // The SYN queue is full and cookies are off: drop the oldest half-open connection, without
            // a RST (its SYN,ACK went unanswered; a real client retransmits its SYN).
            counters.tcpSynQueueEvictions += 1
            freeSlot(oldest)
        }
        guard makeRoomForConnection() else {
            counters.tcpBacklogDrops += 1
            return
        }
        var config = configuration.tcp
        config.maxSegmentSize = maxSegmentSize(for: flow.local.address)
        let crowded = Swift.max(1, listeners[l].backlog / 2)
        if listeners[l].synQueue.count >= crowded {
            // Under pressure a half-open connection gets fewer SYN,ACK retransmissions, so that a
            // flood's half-open connections are gone within seconds after it stops.
            config.maxSynRetransmissions = Swift.min(config.maxSynRetransmissions, Self.synAckRetransmissionsUnderPressure)
            if listeners[l].synQueue.count == crowded {
                // The queue just became crowded: those already in it get the lower limit too (Linux
                // judges the queue whenever a SYN,ACK timer fires, not when the SYN came). Otherwise
                // the first half of a flood, which SYN cookies never evict, would stay two minutes.
                for queued in listeners[l].synQueue {
                    guard let limit = tcpSlots[Int(queued)].connection?.configuration.maxSynRetransmissions,
                          limit > Self.synAckRetransmissionsUnderPressure else { continue }
                    tcpSlots[Int(queued)].connection?.configuration.maxSynRetransmissions = Self.synAckRetransmissionsUnderPressure
                }
            }
        }
        guard
            let connection = TCPConnection(
                passiveOpenFrom: header, configuration: config,
                iss: identifiers.initialSequenceNumber(local: flow.local, remote: flow.remote, now: now), now: now,
                timestampOffset: identifiers.timestampOffset(local: flow.local, remote: flow.remote),
                defaultPeerMSS: defaultPeerMSS(for: flow.remote.address))
        else { return }
        let index = allocateSlot(connection, flow: flow)
        tcpSlots[Int(index)].listener = listener
        tcpSlots[Int(index)].passive = true
        tcpPassiveByRemote[flow.remote.address, default: 0] += 1
        listeners[l].synQueue.append(index)
        markOutputPending(index)
    }

    /// RFC 9293 §3.10.7.1 (CLOSED): a segment for no connection gets a RST, unless it is one.
    /// With ACK: <SEQ=SEG.ACK><CTL=RST>; without: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    /// Rate-limited (RFC 5961 §7 spirit; Linux limits RSTs like ICMP errors).
    func sendReset(replyingTo segment: TCPSegmentHeader, flow: TCPFlow, now: NetInstant) {
        guard !segment.control.contains(.rst) else { return }
        guard errorReplies.take(now: now) else {
            counters.errorRepliesRateLimited += 1
            return
        }
        let header: TCPHeader
        if segment.control.contains(.ack) {
            header = TCPHeader(
                sourcePort: flow.local.port, destinationPort: flow.remote.port,
                sequenceNumber: segment.ack.rawValue, acknowledgmentNumber: 0, flags: .rst, window: 0)
        } else {
            header = TCPHeader(
                sourcePort: flow.local.port, destinationPort: flow.remote.port, sequenceNumber: 0,
                acknowledgmentNumber: (segment.seq + segment.sequenceLength).rawValue, flags: [.rst, .ack],
                window: 0)
        }
        guard queueHeaderOnlySegment(header, flow: flow) else { return }
        counters.tcpResetsSent += 1
    }

    /// Writes `header` at the start of `area` (the whole segment's room) for a payload that is not in
    /// `area` but elsewhere, `payload` being its checksum sum.
    func emitTCPHeader(_ header: TCPHeader, into area: UnsafeMutableRawBufferPointer, flow: TCPFlow, payload: Checksum) -> Bool {
        let pseudoHeader: Checksum
        switch (flow.local.address, flow.remote.address) {
        case let (.v4(s), .v4(d)): pseudoHeader = Checksum.pseudoHeader(source: s, destination: d, protocol: .tcp, length: area.count)
        case let (.v6(s), .v6(d)): pseudoHeader = Checksum.pseudoHeader(source: s, destination: d, protocol: .tcp, length: area.count)
        default: return false
        }
        do { try header.emit(intoHeader: area, pseudoHeader: pseudoHeader, payload: payload) } catch { return false }
        return true
    }

    func emitTCPHeader(_ header: TCPHeader, into area: UnsafeMutableRawBufferPointer, flow: TCPFlow) -> Bool {
        do {
            switch (flow.local.address, flow.remote.address) {
            case let (.v4(s), .v4(d)): try header.emit(into: area, source: s, destination: d)
            case let (.v6(s), .v6(d)): try header.emit(into: area, source: s, destination: d)
            default: return false
            }
        } catch { return false }
        return true
    }

    /// Builds the next segment of connection `slot` into `buffer` (IP header included), its payload
    /// left in the send buffer and described by `payload` (see `nextOutgoingPacket(into:gathering:now:)`).
    func nextTCPPacket(slot: Int32, into buffer: UnsafeMutableRawBufferPointer, payload: inout GatherList, now: NetInstant) -> Int? {
        let i = Int(slot)
        markDeadlineStale(slot)  // sending arms the retransmission timer
        while tcpSlots[i].connection != nil {
            guard let segment = tcpSlots[i].connection!.nextSegment(now: now) else { return nil }
            if let total = emitSegment(segment, slot: i, into: buffer, payload: &payload) { return total }
        }
        return nil
    }

    /// Writes `segment` of connection slot `i` as an IP packet into `buffer`, except for its payload,
    /// which `payload` points at in the send buffer (copied into `buffer` instead when it spans more
    /// runs than a `GatherList` holds); returns the packet's length, or nil if it could not be built
    /// (the data is retransmitted later).
    private func emitSegment(
        _ segment: TCPSegmentHeader, slot i: Int, into buffer: UnsafeMutableRawBufferPointer, payload: inout GatherList
    ) -> Int? {
        let flow = tcpSlots[i].flow
        let header = Self.wireHeader(of: segment, flow: flow)
        let ipLength = Self.ipHeaderLength(flow.local.address)
        let tcpLength = header.length
        let total = ipLength + tcpLength + segment.payloadLength
        guard total <= buffer.count else {
            // Cannot happen with a buffer of `mtu` bytes.
            counters.outputQueueDrops += 1
            return nil
        }
        let area = UnsafeMutableRawBufferPointer(rebasing: buffer[ipLength..<total])
        var runs = GatherList()
        var headerWritten = false
        if segment.payloadLength > 0 {
            // Where the payload lies in the send buffer, summed for the checksum on the way.
            var sum = Checksum()
            var fits = true
            var offset = ipLength + tcpLength
            let found = tcpSlots[i].connection!.forEachPayloadRegion(of: segment) { region in
                sum.add(region)
                if fits { fits = runs.append(region, at: offset) }
                offset += region.count
            }
            if found == segment.payloadLength && fits {
                guard emitTCPHeader(header, into: area, flow: flow, payload: sum) else { return nil }
                headerWritten = true
            } else {
                runs = GatherList()
                let payloadArea = UnsafeMutableRawBufferPointer(rebasing: area[tcpLength...])
                _ = tcpSlots[i].connection!.copyPayload(of: segment, into: payloadArea)
            }
        }
        guard headerWritten || emitTCPHeader(header, into: area, flow: flow),
            emitIPHeader(
                into: buffer, source: flow.local.address, destination: flow.remote.address, protocol: .tcp,
                payloadLength: tcpLength + segment.payloadLength) != nil
        else { return nil }
        payload = runs
        counters.tcpSegmentsSent += 1
        if segment.control.contains(.rst) { counters.tcpResetsSent += 1 }
        return total
    }

    // MARK: Connection table

    func allocateSlot(_ connection: TCPConnection, flow: TCPFlow) -> Int32 {
        connection.attachBuffers(to: tcpBufferPool)
        let index: Int32
        if let free = tcpFreeSlots.popLast() {
            index = free
            tcpSlots[Int(index)].connection = connection
            tcpSlots[Int(index)].flow = flow
        } else {
            index = Int32(tcpSlots.count)
            tcpSlots.append(TCPSlot(connection: connection, flow: flow))
        }
        markDeadlineStale(index)
        tcpSlots[Int(index)].listener = nil
        tcpSlots[Int(index)].applicationOwned = false
        tcpSlots[Int(index)].passive = false
        tcpByFlow[flow] = index
        return index
    }

    func freeSlot(_ index: Int32) {
        let i = Int(index)
        guard tcpSlots[i].connection != nil else { return }
        detachFromListener(index)
        if tcpSlots[i].passive {
            tcpSlots[i].passive = false
            releasePassiveOpen(of: tcpSlots[i].flow.remote.address)
        }
        tcpByFlow.removeValue(forKey: tcpSlots[i].flow)
        tcpRetransmissionsOfFreedConnections += tcpSlots[i].connection!.retransmissions
        tcpSlots[i].connection = nil
        markDeadlineStale(index)
        tcpSlots[i].generation &+= 1
        tcpSlots[i].applicationOwned = false
        tcpEvents.removeValue(forKey: index)
        tcpFreeSlots.append(index)
    }

    private func detachFromListener(_ index: Int32) {
        guard let listener = tcpSlots[Int(index)].listener else { return }
        let l = Int(listener)
        if let position = listeners[l].acceptQueue.firstIndex(of: index) {
            listeners[l].acceptQueue.remove(at: position)
        } else if let position = listeners[l].synQueue.firstIndex(of: index) {
            listeners[l].synQueue.remove(at: position)
        }
        tcpSlots[Int(index)].listener = nil
    }

    func markOutputPending(_ index: Int32) {
        // Whatever makes a connection due for output may also have moved its timers.
        markDeadlineStale(index)
        guard !tcpSlots[Int(index)].outputPending else { return }
        tcpSlots[Int(index)].outputPending = true
        tcpOutputPending.append(index)
    }

    /// Frees a connection that reached CLOSED once nobody needs it: the application released it, it is
    /// not waiting in a backlog, and its last segment (e.g. a RST) has been sent. One in TIME-WAIT
    /// becomes a compact record then (`enterTimeWaitRecord`).
    func reclaimIfFinished(slot index: Int32) {
        let i = Int(index)
        guard let connection = tcpSlots[i].connection, !tcpSlots[i].applicationOwned, !tcpSlots[i].outputPending
        else { return }
        switch connection.state {
        case .closed:
            freeSlot(index)
        case .timeWait where tcpSlots[i].listener == nil:
            enterTimeWaitRecord(slot: index)
        default:
            break
        }
    }

    /// Reacts to what a connection reported: backlog bookkeeping, events for the application, output.
    func connectionChanged(slot index: Int32, events: TCPConnectionEvents) {
        let i = Int(index)
        markOutputPending(index)
        guard !events.isEmpty else { return }
        if let listener = tcpSlots[i].listener {
            let l = Int(listener)
            if events.contains(.closed) {
                detachFromListener(index)
            } else if events.contains(.established) {
                if let position = listeners[l].synQueue.firstIndex(of: index) {
                    listeners[l].synQueue.remove(at: position)
                }
                guard listeners[l].acceptQueue.count < listeners[l].backlog else {
                    // More handshakes completed than the accept queue holds: reset this one (Linux
                    // with tcp_abort_on_overflow) rather than let the queue grow without bound.
                    counters.tcpAcceptQueueOverflows += 1
                    tcpSlots[i].listener = nil
                    _ = tcpSlots[i].connection!.abort()
                    return
                }
                listeners[l].acceptQueue.append(index)
                post(.acceptable, to: .listener(TCPListenerHandle(index: listener, generation: listeners[l].generation)))
            }
            return
        }
        guard tcpSlots[i].applicationOwned else { return }
        var socketEvents: SocketEvents = []
        if events.contains(.established) { socketEvents.formUnion([.connected, .writable]) }
        if events.contains(.readable) { socketEvents.insert(.readable) }
        if events.contains(.writable) { socketEvents.insert(.writable) }
        if events.contains(.closed) { socketEvents.formUnion([.closed, .readable, .writable]) }
        post(socketEvents, to: .tcp(TCPSocketHandle(index: index, generation: tcpSlots[i].generation)))
    }

    func slotIndex(_ handle: TCPSocketHandle) throws(SocketError) -> Int {
        let i = Int(handle.index)
        guard tcpSlots.indices.contains(i), tcpSlots[i].generation == handle.generation,
            tcpSlots[i].connection != nil, tcpSlots[i].applicationOwned
        else { throw .invalidHandle }
        return i
    }

    // MARK: Socket API

    /// Opens a listening socket (RFC 9293 §3.10.1 passive OPEN) on `port` for `address` (nil: all of
    /// the stack's addresses). At most `backlog` established connections wait for `accept` (further
    /// SYNs are dropped), and at most `backlog` wait in SYN-RECEIVED; a SYN that finds them full is
    /// answered with a SYN cookie (`IPStackConfiguration.synCookies`), or replaces the oldest.
    public func listen(port: UInt16, address: IPAddress? = nil, backlog: Int = 128) throws(SocketError)
        -> TCPListenerHandle
    {
        if let address, !isLocal(address) { throw .addressNotAvailable(address) }
        let endpoint = IPEndpoint(address ?? .v4(.any), port)
        guard port != 0, listenerByPort[port] == nil else { throw .addressInUse(endpoint) }
        var slot = ListenerSlot()
        slot.open = true
        slot.port = port
        slot.address = address
        slot.backlog = Swift.max(1, Swift.min(backlog, configuration.maximumBacklog))
        slot.acceptQueue.reserveCapacity(slot.backlog)
        let index: Int32
        if let free = listeners.firstIndex(where: { !$0.open }) {
            slot.generation = listeners[free].generation &+ 1
            listeners[free] = slot
            index = Int32(free)
        } else {
            index = Int32(listeners.count)
            listeners.append(slot)
        }
        listenerByPort[port] = index
        return TCPListenerHandle(index: index, generation: slot.generation)
    }

    /// Takes the next established connection from a listener's backlog, or nil if none is waiting.
    public func accept(_ listener: TCPListenerHandle) throws(SocketError) -> TCPSocketHandle? {
        let l = Int(listener.index)
        guard listeners.indices.contains(l), listeners[l].open, listeners[l].generation == listener.generation else {
            throw .invalidHandle
        }
        guard !listeners[l].acceptQueue.isEmpty else { return nil }
        let index = listeners[l].acceptQueue.removeFirst()
        tcpSlots[Int(index)].listener = nil
        tcpSlots[Int(index)].applicationOwned = true
        let handle = TCPSocketHandle(index: index, generation: tcpSlots[Int(index)].generation)
        if let connection = tcpSlots[Int(index)].connection {
            var events: SocketEvents = [.writable]
            if connection.readableBytes > 0 || connection.finReceived { events.insert(.readable) }
            if connection.state == .closed { events.insert(.closed) }
            post(events, to: .tcp(handle))
        }
        return handle
    }

    /// Closes a listener; connections still in its backlog are reset.
    public func close(_ listener: TCPListenerHandle) {
        let l = Int(listener.index)
        guard listeners.indices.contains(l), listeners[l].open, listeners[l].generation == listener.generation else {
            return
        }
        listeners[l].open = false
        listenerByPort.removeValue(forKey: listeners[l].port)
        listenerEvents.removeValue(forKey: listener.index)
        for i in tcpSlots.indices where tcpSlots[i].listener == listener.index && tcpSlots[i].connection != nil {
            tcpSlots[i].listener = nil
            _ = tcpSlots[i].connection!.abort()
            markOutputPending(Int32(i))
        }
        listeners[l].acceptQueue.removeAll()
        listeners[l].synQueue.removeAll()
    }

    /// Active open (RFC 9293 §3.10.1) to `remote` from `localAddress` (default: the stack's first address
    /// of the same family) and a random ephemeral port (RFC 6056). The handle reports `.connected` or
    /// `.closed`.
    public func connect(to remote: IPEndpoint, from localAddress: IPAddress? = nil, now: NetInstant)
        throws(SocketError) -> TCPSocketHandle
    {
        let local: IPAddress
        if let localAddress {
            guard isLocal(localAddress) else { throw .addressNotAvailable(localAddress) }
            local = localAddress
        } else {
            switch remote.address {
            case .v4:
                guard let a = ipv4Addresses.first else { throw .addressNotAvailable(remote.address) }
                local = .v4(a)
            case .v6:
                guard let a = ipv6Addresses.first else { throw .addressNotAvailable(remote.address) }
                local = .v6(a)
            }
        }
        guard makeRoomForConnection() else { throw .tooManyConnections }
        // RFC 6056 §3.3.3 (Algorithm 3): ports in 49152-65535 in a per-destination order, so a 4-tuple
        // comes back only after the whole range was used; skip ports in use.
        var flow: TCPFlow? = nil
        for _ in 0..<ConnectionIdentifiers.ephemeralPorts.count {
            let port = identifiers.nextEphemeralPort(local: local, remote: remote)
            let candidate = TCPFlow(local: IPEndpoint(local, port), remote: remote)
            if tcpByFlow[candidate] == nil && tcpTimeWait[candidate] == nil && listenerByPort[port] == nil {
                flow = candidate
                break
            }
        }
        guard let flow else { throw .noEphemeralPort }
        var config = configuration.tcp
        config.maxSegmentSize = maxSegmentSize(for: local)
        let connection = TCPConnection(
            activeOpenWith: config, iss: identifiers.initialSequenceNumber(local: flow.local, remote: remote, now: now),
            now: now, timestampOffset: identifiers.timestampOffset(local: flow.local, remote: remote),
            defaultPeerMSS: defaultPeerMSS(for: remote.address))
        let index = allocateSlot(connection, flow: flow)
        tcpSlots[Int(index)].applicationOwned = true
        markOutputPending(index)
        return TCPSocketHandle(index: index, generation: tcpSlots[Int(index)].generation)
    }

    /// Queues bytes for sending (RFC 9293 §3.10.2); returns how many fit in the send buffer
    /// (0 when full — wait for `.writable` — or after shutdown).
    public func send(_ socket: TCPSocketHandle, _ bytes: UnsafeRawBufferPointer) throws(SocketError) -> Int {
        let i = try slotIndex(socket)
        let n = tcpSlots[i].connection!.write(bytes)
        if n > 0 { markOutputPending(socket.index) }
        return n
    }

    /// Reads received bytes (RFC 9293 §3.10.3); returns 0 when none are buffered (check
    /// `status(of:)?.isAtEndOfStream` for the end of the stream).
    public func receive(_ socket: TCPSocketHandle, into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> Int {
        let i = try slotIndex(socket)
        let n = tcpSlots[i].connection!.read(into: buffer)
        if n > 0 { markOutputPending(socket.index) }
        return n
    }

    /// Reads received bytes in place: `body` sees contiguous regions and returns how many it consumed.
    public func receive(_ socket: TCPSocketHandle, _ body: (UnsafeRawBufferPointer) -> Int) throws(SocketError) -> Int {
        let i = try slotIndex(socket)
        let n = tcpSlots[i].connection!.read(body)
        if n > 0 { markOutputPending(socket.index) }
        return n
    }

    /// Turns Nagle's algorithm off (`true`, like TCP_NODELAY) or on for one connection (RFC 1122
    /// §4.2.3.4). Turning it off sends data Nagle was holding at once.
    public func setNoDelay(_ socket: TCPSocketHandle, _ enabled: Bool) throws(SocketError) {
        let i = try slotIndex(socket)
        tcpSlots[i].connection!.noDelay = enabled
        markOutputPending(socket.index)
    }

    /// Whether Nagle's algorithm is off for one connection (see ``setNoDelay(_:_:)``).
    public func noDelay(of socket: TCPSocketHandle) throws(SocketError) -> Bool {
        let i = try slotIndex(socket)
        return tcpSlots[i].connection!.noDelay
    }

    /// Half-close: sends FIN after the queued data; receiving continues.
    public func shutdownWrite(_ socket: TCPSocketHandle) throws(SocketError) {
        let i = try slotIndex(socket)
        tcpSlots[i].connection!.shutdownWrite()
        markOutputPending(socket.index)
    }

    /// Closes the connection and releases the handle (RFC 9293 §3.10.4). The stack finishes the close
    /// (FIN, TIME-WAIT) on its own; unread data turns it into a reset.
    public func close(_ socket: TCPSocketHandle, now: NetInstant) {
        guard let i = try? slotIndex(socket) else { return }
        _ = tcpSlots[i].connection!.close(now: now)
        tcpSlots[i].applicationOwned = false
        tcpEvents.removeValue(forKey: socket.index)
        markOutputPending(socket.index)
    }

    /// Resets the connection (RFC 9293 §3.10.5 ABORT) and releases the handle.
    public func abort(_ socket: TCPSocketHandle) {
        guard let i = try? slotIndex(socket) else { return }
        _ = tcpSlots[i].connection!.abort()
        tcpSlots[i].applicationOwned = false
        tcpEvents.removeValue(forKey: socket.index)
        markOutputPending(socket.index)
    }

    /// State, error and buffer levels of a connection; nil for an invalid handle.
    public func status(of socket: TCPSocketHandle) -> TCPSocketStatus? {
        guard let i = try? slotIndex(socket), let c = tcpSlots[i].connection else { return nil }
        return TCPSocketStatus(
            state: c.state, error: c.error, readableBytes: c.readableBytes, writableBytes: c.writableBytes,
            isAtEndOfStream: c.isAtEndOfStream, local: tcpSlots[i].flow.local, remote: tcpSlots[i].flow.remote)
    }

    /// Number of connections in the table (all states, TIME-WAIT records included).
    public var connectionCount: Int { tcpByFlow.count + tcpTimeWait.count }
}
