import Testing
@testable import UDPTransport

@Suite("SegmentationPlan")
struct SegmentationPlanTests {
    private func entries(_ spec: [(size: Int, port: UInt16)]) -> [SendBatch.Entry] {
        spec.enumerated().map { index, item in
            SendBatch.Entry(buffer: UInt32(index), start: 32, count: Int32(item.size),
                            destination: .loopbackIPv4(port: item.port), source: nil, interfaceIndex: 0)
        }
    }

    private func runs(_ entries: [SendBatch.Entry], allowed: Bool = true) -> [(Int, Int)] {
        entries.withUnsafeBufferPointer { buffer in
            var result: [(Int, Int)] = []
            var start = 0
            while start < buffer.count {
                let run = SegmentationPlan.run(in: buffer, from: start, segmentationAllowed: allowed)
                result.append((run.count, run.segmentSize))
                start += run.count
            }
            return result
        }
    }

    @Test func equalSizesToOneDestinationFormOneRun() {
        let plan = runs(entries(Array(repeating: (1200, 1), count: 10)))
        #expect(plan.map(\.0) == [10])
        #expect(plan.map(\.1) == [1200])
    }

    @Test func aShorterDatagramEndsTheRunAndALongerOneStartsANewRun() {
        let plan = runs(entries([(1000, 1), (1000, 1), (400, 1), (1000, 1), (1400, 1), (1400, 1)]))
        #expect(plan.map(\.0) == [3, 1, 2])
    }

    @Test func aDifferentDestinationStartsANewRun() {
        let plan = runs(entries([(500, 1), (500, 1), (500, 2), (500, 1)]))
        #expect(plan.map(\.0) == [2, 1, 1])
    }

    @Test func runsStopAtTheSegmentAndByteLimits() {
        let many = runs(entries(Array(repeating: (100, 1), count: 150)))
        #expect(many.map(\.0) == [64, 64, 22])
        let large = runs(entries(Array(repeating: (9000, 1), count: 10)))
        // 7 × 9000 = 63000 fits in 65507 bytes, 8 × 9000 does not.
        #expect(large.map(\.0) == [7, 3])
    }

    @Test func withoutSegmentationEveryDatagramIsItsOwnRun() {
        let plan = runs(entries(Array(repeating: (1200, 1), count: 4)), allowed: false)
        #expect(plan.map(\.0) == [1, 1, 1, 1])
    }

    @Test func refusalsAreRememberedPerDestinationUntilTheTableIsFull() {
        var refusals = SegmentationRefusals()
        #expect(refusals.allows(.loopbackIPv4(port: 1)))
        #expect(refusals.refuse(.loopbackIPv4(port: 1)) == false)
        #expect(!refusals.allows(.loopbackIPv4(port: 1)))
        #expect(refusals.allows(.loopbackIPv4(port: 2)))
        for port in 2 ... UInt16(SegmentationRefusals.capacity) { _ = refusals.refuse(.loopbackIPv4(port: port)) }
        #expect(refusals.refuse(.loopbackIPv4(port: 9999)) == true)
        #expect(refusals.refusesAll)
        #expect(!refusals.allows(.loopbackIPv4(port: 10000)))
    }
}
