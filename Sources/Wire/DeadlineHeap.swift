/// The deadlines of a set of timers named by small integers (slots of a table), in an indexed binary
/// min-heap: the earliest is read in O(1); scheduling, moving (earlier or later), cancelling and
/// taking a due timer cost O(log n). A timer has at most one deadline; an engine that owns many
/// objects keeps one entry per object (its earliest timer) and, when that time comes, visits only
/// the objects whose entry is due, never the whole table.
///
/// The position of each id in the heap is kept in a dense array indexed by id, so ids should be
/// table slots (0 ..< table size), reused when freed, not arbitrary numbers.
public struct DeadlineHeap: Sendable {
    private struct Entry: Sendable {
        var deadline: Int64
        var id: Int32
    }

    private var entries: [Entry] = []
    /// For each id, its index in `entries`, or -1 when it has no deadline.
    private var positions: [Int32] = []

    public init() {}

    /// The number of timers with a deadline.
    public var count: Int { entries.count }

    /// True when no timer has a deadline.
    public var isEmpty: Bool { entries.isEmpty }

    /// The earliest deadline of all timers, or nil when none is scheduled.
    public var earliest: NetInstant? {
        entries.first.map { NetInstant(nanoseconds: $0.deadline) }
    }

    /// The deadline of timer `id`, or nil when it has none.
    public func deadline(of id: Int32) -> NetInstant? {
        let i = Int(id)
        guard i < positions.count, positions[i] >= 0 else { return nil }
        return NetInstant(nanoseconds: entries[Int(positions[i])].deadline)
    }

    /// Sets timer `id` to fire at `deadline` (nil: cancels it), whether or not it had one.
    public mutating func schedule(_ id: Int32, at deadline: NetInstant?) {
        guard let deadline else {
            cancel(id)
            return
        }
        let i = Int(id)
        if i >= positions.count {
            positions.append(contentsOf: repeatElement(-1, count: i + 1 - positions.count))
        }
        let position = Int(positions[i])
        guard position >= 0 else {
            entries.append(Entry(deadline: deadline.nanoseconds, id: id))
            positions[i] = Int32(entries.count - 1)
            siftUp(entries.count - 1)
            return
        }
        let old = entries[position].deadline
        entries[position].deadline = deadline.nanoseconds
        if deadline.nanoseconds < old {
            siftUp(position)
        } else if deadline.nanoseconds > old {
            siftDown(position)
        }
    }

    /// Removes timer `id`'s deadline, if it has one.
    public mutating func cancel(_ id: Int32) {
        let i = Int(id)
        guard i < positions.count, positions[i] >= 0 else { return }
        remove(at: Int(positions[i]))
    }

    /// Removes and returns the timer with the earliest deadline if that deadline is at or before
    /// `now`; nil when no timer is due.
    public mutating func popDue(now: NetInstant) -> Int32? {
        guard let top = entries.first, top.deadline <= now.nanoseconds else { return nil }
        remove(at: 0)
        return top.id
    }

    // MARK: Heap

    private mutating func remove(at position: Int) {
        positions[Int(entries[position].id)] = -1
        let last = entries.removeLast()
        guard position < entries.count else { return }
        entries[position] = last
        positions[Int(last.id)] = Int32(position)
        if position > 0 && last.deadline < entries[(position - 1) / 2].deadline {
            siftUp(position)
        } else {
            siftDown(position)
        }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        let entry = entries[child]
        while child > 0 {
            let parent = (child - 1) / 2
            guard entry.deadline < entries[parent].deadline else { break }
            entries[child] = entries[parent]
            positions[Int(entries[child].id)] = Int32(child)
            child = parent
        }
        entries[child] = entry
        positions[Int(entry.id)] = Int32(child)
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let entry = entries[parent]
        let count = entries.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            let right = left + 1
            let smaller = right < count && entries[right].deadline < entries[left].deadline ? right : left
            guard entries[smaller].deadline < entry.deadline else { break }
            entries[parent] = entries[smaller]
            positions[Int(entries[parent].id)] = Int32(parent)
            parent = smaller
        }
        entries[parent] = entry
        positions[Int(entry.id)] = Int32(parent)
    }
}
