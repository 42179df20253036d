import Testing
import Wire

@Suite("DeadlineHeap: indexed min-heap of timer deadlines")
struct DeadlineHeapTests {
    @Test("Random schedules, moves, cancels and pops agree with a plain table of deadlines, over 50 seeds")
    func agreesWithTable() {
        for seed in UInt64(1)...50 {
            var random = SeededRandom(seed: seed)
            var heap = DeadlineHeap()
            var table: [Int32: Int64] = [:]
            var now: Int64 = 0
            for _ in 0..<4000 {
                let id = Int32(random.next() % 300)
                switch random.next() % 8 {
                case 0, 1, 2:
                    let deadline = now + Int64(random.next() % 1000)
                    heap.schedule(id, at: NetInstant(nanoseconds: deadline))
                    table[id] = deadline
                case 3:
                    heap.schedule(id, at: nil)
                    table[id] = nil
                case 4:
                    heap.cancel(id)
                    table[id] = nil
                default:
                    now += Int64(random.next() % 50)
                    var popped: [Int32] = []
                    var last = Int64.min
                    while let due = heap.popDue(now: NetInstant(nanoseconds: now)) {
                        let deadline = table.removeValue(forKey: due)
                        #expect(deadline != nil && deadline! <= now && deadline! >= last)
                        last = deadline ?? last
                        popped.append(due)
                    }
                    #expect(!table.values.contains { $0 <= now }, "seed \(seed): a due timer was left")
                }
                #expect(heap.count == table.count)
                #expect(heap.earliest?.nanoseconds == table.values.min(), "seed \(seed)")
                #expect(heap.deadline(of: id)?.nanoseconds == table[id])
            }
        }
    }

    @Test("An empty heap has no earliest deadline and nothing due")
    func empty() {
        var heap = DeadlineHeap()
        #expect(heap.earliest == nil)
        #expect(heap.popDue(now: NetInstant(nanoseconds: .max)) == nil)
        heap.cancel(7)
        #expect(heap.isEmpty)
    }
}
