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
    /// Identifies this record's entry in the expiry heap.
    var id: UInt32 = 0
    /// The window field of our ACKs (Linux `tw_rcv_wnd`).
    var window: UInt16
    var timestampsEnabled: Bool
    /// Opened by the peer's SYN: still counted in `IPStack.tcpPassiveByRemote`.
    var passive: Bool
}

/// The TIME-WAIT records of a stack, with their expiries in a binary min-heap: expiring one costs
/// O(log n) and an idle table costs nothing. Each record has exactly one heap entry; an entry whose
/// record was removed or replaced is dropped when it reaches the top, and one whose record's expiry
/// moved later (a retransmitted FIN restarted the timer) is pushed again then.
struct TimeWaitTable {
    private struct Entry {
        var expiry: Int64
        var id: UInt32
        var flow: TCPFlow
    }

    private(set) var records: [TCPFlow: TimeWaitRecord] = [:]
    private var heap: [Entry] = []
    private var nextID: UInt32 = 0

    var count: Int { records.count }

    subscript(flow: TCPFlow) -> TimeWaitRecord? {
        get { records[flow] }
        set {
            guard let newValue else {
                records.removeValue(forKey: flow)
                return
            }
            if let old = records[flow], old.id == newValue.id {
                records[flow] = newValue  // an update: the heap entry catches up when it reaches the top
            } else {
                insert(newValue, for: flow)
            }
        }
    }

    private mutating func insert(_ record: TimeWaitRecord, for flow: TCPFlow) {
        nextID &+= 1
        var record = record
        record.id = nextID
        records[flow] = record
        push(Entry(expiry: record.expiry.nanoseconds, id: record.id, flow: flow))
    }

    /// The earliest expiry of a record. Entries at the top of the heap for removed records are
    /// dropped, and those whose record's expiry moved later are pushed again, first.
    mutating func nextExpiry() -> NetInstant? {
        while let top = heap.first {
            guard let record = records[top.flow], record.id == top.id else {
                popTop()
                continue
            }
            guard record.expiry.nanoseconds == top.expiry else {
                popTop()
                push(Entry(expiry: record.expiry.nanoseconds, id: record.id, flow: top.flow))
                continue
            }
            return record.expiry
        }
        return nil
    }

    /// Removes every record expired at `now` and passes each to `body`.
    mutating func expire(now: NetInstant, _ body: (TCPFlow, TimeWaitRecord) -> Void) {
        while let top = heap.first, top.expiry <= now.nanoseconds {
            popTop()
            guard let record = records[top.flow], record.id == top.id else { continue }
            if record.expiry > now {
                push(Entry(expiry: record.expiry.nanoseconds, id: record.id, flow: top.flow))
            } else {
                records.removeValue(forKey: top.flow)
                body(top.flow, record)
            }
        }
    }

    // MARK: Heap

    private mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].expiry < heap[parent].expiry else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].expiry < heap[smallest].expiry { smallest = left }
            if right < heap.count && heap[right].expiry < heap[smallest].expiry { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
