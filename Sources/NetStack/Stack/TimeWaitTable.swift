import Wire

/// A connection in TIME-WAIT, reduced to what that state still needs (RFC 9293 §3.10.7.4): enough
/// to acknowledge a retransmitted FIN, to judge a new SYN for the same 4-tuple (RFC 9293 §3.10.7.4
/// note, RFC 6191) and to run the 2 MSL timer. Its buffers and the rest of the connection are freed
/// when it enters TIME-WAIT, as Linux replaces a socket with an `inet_timewait_sock`.
struct TimeWaitRecord {
    /// SND.NXT: one past our FIN.
    var sendNext: SequenceNumber
    /// RCV.NXT: one past the peer's FIN.
    var receiveNext: SequenceNumber
    /// TS.Recent and when it was set (RFC 7323 §4.3, §5.5); meaningful with `timestampsEnabled`.
    var tsRecent: UInt32
    var tsRecentStamp: NetInstant
    /// The connection's offset for our TSval (RFC 7323 §5.4), so ACKs continue its clock.
    var timestampOffset: UInt32
    /// When the record expires (2 MSL after the last FIN, RFC 9293 §3.10.8).
    var expiry: NetInstant
    /// When the last ACK to a segment without data was sent (rate limit, as the connection's
    /// `outOfWindowAckInterval`).
    var lastAck: NetInstant?
    /// Names this record's entry in the table's expiry heap (set by `TimeWaitTable`; `.max`: not in a table).
    var id: UInt32 = .max
    /// The window field of our ACKs (Linux `tw_rcv_wnd`).
    var window: UInt16
    var timestampsEnabled: Bool
}

/// The TIME-WAIT records of a stack, with their expiries in a `DeadlineHeap`: expiring one costs
/// O(log n) and an idle table costs nothing. Each record holds a dense id (reused once the record is
/// gone) naming its heap entry; the entry moves whenever the record's expiry does (a retransmitted
/// FIN restarts the timer).
struct TimeWaitTable {
    private(set) var records: [TCPFlow: TimeWaitRecord] = [:]
    private var expiries = DeadlineHeap()
    /// The flow of each id in use (nil: free).
    private var flows: [TCPFlow?] = []
    private var freeIDs: [UInt32] = []

    var count: Int { records.count }

    subscript(flow: TCPFlow) -> TimeWaitRecord? {
        get { records[flow] }
        set {
            let old = records[flow]
            guard var record = newValue else {
                if let old { release(old.id) }
                records.removeValue(forKey: flow)
                return
            }
            if let old, old.id == record.id {
                // An update of the same record.
            } else {
                if let old { release(old.id) }
                record.id = acquireID(for: flow)
            }
            records[flow] = record
            expiries.schedule(Int32(record.id), at: record.expiry)
        }
    }

    private mutating func acquireID(for flow: TCPFlow) -> UInt32 {
        if let id = freeIDs.popLast() {
            flows[Int(id)] = flow
            return id
        }
        flows.append(flow)
        return UInt32(flows.count - 1)
    }

    private mutating func release(_ id: UInt32) {
        expiries.cancel(Int32(id))
        flows[Int(id)] = nil
        freeIDs.append(id)
    }

    /// The earliest expiry of a record.
    func nextExpiry() -> NetInstant? { expiries.earliest }

    /// Removes the record that expires first (the oldest, unless a retransmitted FIN restarted one).
    /// Returns whether there was one.
    mutating func removeOldest() -> Bool {
        guard let earliest = expiries.earliest, let id = expiries.popDue(now: earliest) else { return false }
        removeRecord(ofPoppedID: id)
        return true
    }

    /// Removes every record expired at `now`.
    mutating func expire(now: NetInstant) {
        while let id = expiries.popDue(now: now) { removeRecord(ofPoppedID: id) }
    }

    /// Frees `id`, just popped from the expiry heap, and removes its record.
    private mutating func removeRecord(ofPoppedID id: Int32) {
        let flow = flows[Int(id)]!
        flows[Int(id)] = nil
        freeIDs.append(UInt32(id))
        records.removeValue(forKey: flow)
    }
}
