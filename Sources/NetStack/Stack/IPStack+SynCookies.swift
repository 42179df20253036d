import Wire

/// The listener's side of SYN cookies (see `SynCookies` for the encoding): a SYN that finds the SYN
/// queue full is answered without keeping state, and a valid final ACK rebuilds the connection,
/// which then joins the accept queue like any other (Linux `cookie_v4_check` / `cookie_v6_check`).
extension IPStack {
    /// Answers `syn` with a SYN,ACK whose ISS is a cookie (Linux `tcp_conn_request` with `want_cookie`):
    /// our MSS; with the peer's timestamps, our window scale and SACK-permitted as the SYN asked and
    /// the peer's options in the TSval; without timestamps, no other option (Linux clears them).
    func sendSynCookie(listener: Int32, _ syn: TCPSegmentHeader, flow: TCPFlow, now: NetInstant) {
        let tcp = configuration.tcp
        let table = SynCookies.mssTable(for: flow.remote.address)
        let peerMSS = syn.maxSegmentSize.map(Int.init) ?? defaultPeerMSS(for: flow.remote.address)
        let mssIndex = SynCookies.mssIndex(peerMSS: peerMSS, table: table)
        let iss = synCookies.sequenceNumber(flow: flow, peerSequence: syn.seq, mssIndex: mssIndex, now: now)
        var segment = TCPSegmentHeader(seq: iss, ack: syn.seq + 1, control: [.syn, .ack])
        // RFC 7323 §2.2: the window field of a SYN is never scaled.
        segment.window = UInt16(Swift.min(Swift.max(1, tcp.receiveBufferSize), 65535))
        segment.maxSegmentSize = UInt16(clamping: maxSegmentSize(for: flow.local.address))
        if let peerTimestamps = syn.timestamps, tcp.timestamps {
            let options = SynCookies.EchoedOptions(
                windowScale: tcp.windowScaling ? syn.windowScale : nil,
                sackPermitted: syn.sackPermitted && tcp.selectiveAcknowledgments, ecn: false)
            let offset = identifiers.timestampOffset(local: flow.local, remote: flow.remote)
            let clock = UInt32(truncatingIfNeeded: now.milliseconds)
            segment.timestamps = TCPTimestamps(
                value: SynCookies.timestampValue(clock: clock, offset: offset, options: options),
                echoReply: peerTimestamps.value)
            if options.windowScale != nil {
                segment.windowScale = TCPConnection.windowScale(for: Swift.max(1, tcp.receiveBufferSize))
            }
            segment.sackPermitted = options.sackPermitted
        }
        guard sendStatelessSegment(segment, flow: flow) else { return }
        counters.tcpSynCookiesSent += 1
        listeners[Int(listener)].lastSynCookie = now
    }

    /// Checks whether `ack` (an ACK without SYN or RST for a listener) completes a cookie handshake;
    /// if so, rebuilds the connection, hands it the ACK (with any data or FIN it carries) and returns
    /// true. Returns false — the caller answers with a RST — when the listener sent no cookie in the
    /// last `SynCookies.validationWindow`, or the cookie is invalid (counted as rejected).
    func completeSynCookieHandshake(
        listener: Int32, _ ack: TCPSegmentHeader, payload: UnsafeRawBufferPointer, flow: TCPFlow, now: NetInstant
    ) -> Bool {
        let l = Int(listener)
        guard configuration.synCookies, let last = listeners[l].lastSynCookie,
            now - last < SynCookies.validationWindow,
            ack.control.contains(.ack), !ack.control.contains(.syn), !ack.control.contains(.rst)
        else { return false }
        let tcp = configuration.tcp
        let table = SynCookies.mssTable(for: flow.remote.address)
        let iss = ack.ack - 1
        let irs = ack.seq - 1
        guard
            let mssIndex = synCookies.check(iss, flow: flow, peerSequence: irs, now: now, tableSize: table.count)
        else {
            counters.tcpSynCookiesRejected += 1
            return false
        }
        let offset = identifiers.timestampOffset(local: flow.local, remote: flow.remote)
        var options = SynCookies.EchoedOptions(windowScale: nil, sackPermitted: false, ecn: false)
        if let timestamps = ack.timestamps {
            options = SynCookies.decode(echoReply: timestamps.echoReply, offset: offset)
            // Linux `cookie_timestamp_decode`: options we would not have offered mean a forged echo.
            guard tcp.timestamps, !options.sackPermitted || tcp.selectiveAcknowledgments,
                options.windowScale == nil || tcp.windowScaling
            else {
                counters.tcpSynCookiesRejected += 1
                return false
            }
        }
        counters.tcpSynCookiesValidated += 1
        // The limits a SYN would have met, now that the connection is about to exist.
        guard listeners[l].acceptQueue.count < listeners[l].backlog else {
            counters.tcpAcceptQueueOverflows += 1
            sendReset(replyingTo: ack, flow: flow, now: now)
            return true
        }
        guard tcpPassiveByRemote[flow.remote.address, default: 0] < configuration.maximumConnectionsPerRemoteAddress
        else {
            counters.tcpPerAddressLimitDrops += 1
            return true
        }
        guard makeRoomForConnection() else {
            counters.tcpBacklogDrops += 1
            return true
        }
        // The SYN the cookie stands for: its sequence number, the MSS from the table, and the options
        // the echo carried (the window field is replaced by the ACK's).
        let syn = TCPSegmentHeader(
            seq: irs, control: .syn, window: ack.window, maxSegmentSize: table[mssIndex],
            windowScale: options.windowScale, sackPermitted: options.sackPermitted,
            timestamps: ack.timestamps.map { TCPTimestamps(value: $0.value, echoReply: 0) })
        var config = tcp
        config.maxSegmentSize = maxSegmentSize(for: flow.local.address)
        guard
            var connection = TCPConnection(
                passiveOpenFrom: syn, configuration: config, iss: iss, now: now, timestampOffset: offset,
                defaultPeerMSS: defaultPeerMSS(for: flow.remote.address))
        else { return true }
        connection.synAckSentStatelessly(window: Int(Swift.min(Swift.max(1, tcp.receiveBufferSize), 65535)))
        let index = allocateSlot(connection, flow: flow)
        tcpSlots[Int(index)].listener = listener
        tcpSlots[Int(index)].passive = true
        tcpPassiveByRemote[flow.remote.address, default: 0] += 1
        listeners[l].synQueue.append(index)
        // The echo holds our encoded options, not a send time: no RTT sample from it.
        var final = ack
        if let timestamps = ack.timestamps { final.timestamps = TCPTimestamps(value: timestamps.value, echoReply: 0) }
        let events = tcpSlots[Int(index)].connection!.handle(final, payload: payload, now: now)
        connectionChanged(slot: index, events: events)
        return true
    }
}

extension TCPConnection {
    /// A connection rebuilt from a SYN cookie: its SYN,ACK (`window` bytes, unscaled) went out
    /// statelessly, so it starts in SYN-RECEIVED with SND.NXT = ISS + 1, no timer and nothing to send;
    /// the ACK that completes it comes next.
    mutating func synAckSentStatelessly(window: Int) {
        send.nxt = send.iss + 1
        send.max = send.nxt
        receive.advertisedEdge = receive.nxt + window
        retransmitDeadline = nil
        rttTimedSequence = nil
    }
}
