import Wire

/// TIME-WAIT as a compact record (`TimeWaitRecord`): once a connection in TIME-WAIT has sent its
/// last segment and no application holds it, the stack keeps only its sequence numbers, timestamps
/// and timer, and frees the connection with its buffers. Segments for the 4-tuple are then answered
/// from the record (RFC 9293 §3.10.7.4 TIME-WAIT; RFC 6191; RFC 1337; RFC 7323 PAWS), as Linux's
/// `tcp_timewait_state_process`.
extension IPStack {
    /// What a segment for a TIME-WAIT record led to.
    enum TimeWaitOutcome {
        /// The record dealt with it (an ACK sent, or nothing).
        case handled
        /// A new SYN that may start a new incarnation: the record was removed, the listener takes it.
        case reopen
    }

    /// Number of TIME-WAIT records (counted in `connectionCount` and `connectionsByState`).
    public var timeWaitCount: Int { tcpTimeWait.count }

    /// Replaces connection `index`, in TIME-WAIT, by a record, and frees its slot and buffers.
    func enterTimeWaitRecord(slot index: Int32) {
        let i = Int(index)
        guard let connection = tcpSlots[i].connection, connection.state == .timeWait,
            let expiry = connection.closeDeadline
        else { return }
        let flow = tcpSlots[i].flow
        let scale = Int(connection.receive.scale)
        let window = Swift.max(0, connection.receive.advertisedEdge - connection.receive.nxt) >> scale
        let record = TimeWaitRecord(
            sendNext: connection.send.nxt, receiveNext: connection.receive.nxt, tsRecent: connection.tsRecent,
            tsRecentStamp: connection.tsRecentStamp, timestampOffset: connection.timestampOffset, expiry: expiry,
            lastAck: connection.lastOutOfWindowAck, window: UInt16(Swift.min(window, 65535)),
            timestampsEnabled: connection.timestampsEnabled)
        // The record gives the remote address's passive-open place back at once: a client that opens
        // and closes connections quickly (the server closing first) would otherwise hit
        // `maximumConnectionsPerRemoteAddress` with records alone and find every SYN dropped for
        // 2 MSL — 4 096 connections, then a minute of silence. Linux keeps no such count; records
        // stay bounded by `maximumConnections`, where a SYN reclaims the oldest (`makeRoomForConnection`).
        if tcpSlots[i].passive { releasePassiveOpen(of: flow.remote.address) }
        tcpSlots[i].passive = false
        freeSlot(index)
        tcpTimeWait[flow] = record
    }

    /// Whether the connection table has room for one more connection, making it in a full table by
    /// dropping the TIME-WAIT record that expires first, as Linux creates no TIME-WAIT state once
    /// `tcp_max_tw_buckets` are in use rather than refuse connections. False when the table is full
    /// of connections alone.
    func makeRoomForConnection() -> Bool {
        guard connectionCount >= configuration.maximumConnections else { return true }
        guard tcpTimeWait.removeOldest() else { return false }
        counters.tcpTimeWaitReclaimed += 1
        return true
    }

    /// Removes the records whose 2 MSL ran out (RFC 9293 §3.10.8).
    func expireTimeWaitRecords(now: NetInstant) {
        tcpTimeWait.expire(now: now)
    }

    /// Processes a segment for the 4-tuple of a TIME-WAIT record.
    func timeWaitSegmentArrives(_ seg: TCPSegmentHeader, flow: TCPFlow, reopenAllowed: Bool, now: NetInstant)
        -> TimeWaitOutcome
    {
        guard var record = tcpTimeWait[flow] else { return .handled }
        let ctl = seg.control
        // RFC 1337 (TIME-WAIT assassination, fix TW2): RSTs are ignored in TIME-WAIT, so that an old
        // duplicate cannot end it early.
        if ctl.contains(.rst) { return .handled }
        // RFC 9293 §3.10.7.4 (TIME-WAIT) and RFC 6191 §2: a new SYN whose TSval is above TS.Recent
        // (with timestamps) or whose sequence number is above RCV.NXT may start a new incarnation.
        if ctl.contains(.syn), !ctl.contains(.ack), reopenAllowed {
            let newer: Bool
            if record.timestampsEnabled, let ts = seg.timestamps {
                newer = Int32(bitPattern: ts.value &- record.tsRecent) > 0
            } else {
                newer = seg.seq > record.receiveNext
            }
            if newer {
                tcpTimeWait[flow] = nil
                return .reopen
            }
        }
        // RFC 7323 §5.3 (PAWS), unless TS.Recent is older than 24 days (§5.5).
        let pawsRejects = record.timestampsEnabled && (seg.timestamps.map {
            Int32(bitPattern: $0.value &- record.tsRecent) < 0
                && now - record.tsRecentStamp <= TCPConnection.tsRecentLifetime
        } ?? false)
        if !pawsRejects && ctl.contains(.fin) {
            // A retransmission of the peer's FIN: acknowledge it and restart the 2 MSL timeout
            // (RFC 9293 §3.10.7.4 TIME-WAIT).
            record.expiry = now + configuration.tcp.timeWaitDuration
            sendTimeWaitAck(&record, flow: flow, now: now)
        } else if !pawsRejects && seg.seq == record.receiveNext && seg.sequenceLength == 0 {
            // An in-window bare ACK: nothing to answer (RFC 7323 §4.3: it updates TS.Recent).
            if let ts = seg.timestamps, record.timestampsEnabled {
                record.tsRecent = ts.value
                record.tsRecentStamp = now
            }
        } else if seg.payloadLength > 0 || record.lastAck.map({ now - $0 >= TCPConnection.outOfWindowAckInterval }) ?? true {
            // Anything else is unacceptable and gets an ACK (RFC 9293 §3.10.7.4 first; a SYN that may
            // not reopen gets one too, RFC 5961 §4.2): at once with data, at most once per
            // `outOfWindowAckInterval` without (Linux `tcp_timewait_check_oow_rate_limit`).
            if seg.payloadLength == 0 { record.lastAck = now }
            sendTimeWaitAck(&record, flow: flow, now: now)
        }
        tcpTimeWait[flow] = record
        return .handled
    }

    /// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, with timestamps if the connection used them.
    private func sendTimeWaitAck(_ record: inout TimeWaitRecord, flow: TCPFlow, now: NetInstant) {
        var ack = TCPSegmentHeader(seq: record.sendNext, ack: record.receiveNext, control: .ack, window: record.window)
        if record.timestampsEnabled {
            ack.timestamps = TCPTimestamps(
                value: UInt32(truncatingIfNeeded: now.milliseconds) &+ record.timestampOffset, echoReply: record.tsRecent)
        }
        sendStatelessSegment(ack, flow: flow)
    }

    /// One connection opened by `remote`'s SYN is gone (`IPStackConfiguration.maximumConnectionsPerRemoteAddress`).
    func releasePassiveOpen(of remote: IPAddress) {
        let count = tcpPassiveByRemote[remote, default: 1] - 1
        tcpPassiveByRemote[remote] = count > 0 ? count : nil
    }
}
