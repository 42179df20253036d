import Testing
import Wire
@testable import NetStack

/// Receive-window auto-tuning on a simulated path, seeded, transfers checked by sha256.
///
/// The path: 100 Mbit/s (12.5 MB/s) with a 100 ms round trip, so a bandwidth-delay product of
/// 1.25 MB: far more than the 64 KiB a receiver offers at first. The sender's buffer (8 MiB) never
/// limits it.
@Suite("Receive-window auto-tuning in the simulated network")
struct ReceiveWindowTuningSimulationTests {
    static let lineRate = 12_500_000
    static let oneWayDelay = Duration.milliseconds(50)

    struct Outcome {
        /// Goodput over the second half of the transfer, bytes per second.
        var secondHalfRate: Double
        /// The most bytes the receiver held unread at once.
        var peakUnread: Int
        /// The receiver's window limit at the end.
        var finalLimit: Int
    }

    func run(total: Int, seed: UInt64, server: TCPConfiguration, readRate: Int? = nil) -> Outcome {
        let forward = LinkImpairments(delay: Self.oneWayDelay, bytesPerSecond: Self.lineRate, queueLimit: 4000)
        let backward = LinkImpairments(delay: Self.oneWayDelay)
        var client = TCPConfiguration()
        client.sendBufferSize = 8 << 20
        var sim = TCPPairSimulation(
            total: total, seed: seed, forward: forward, backward: backward, client: client, server: server)
        sim.readRate = readRate
        var halfAt: NetInstant? = nil
        var doneAt: NetInstant? = nil
        var peakUnread = 0
        sim.drainOutputs()
        while sim.steps < 5_000_000 && !sim.isDone {
            if !sim.step() { break }
            if halfAt == nil && sim.received >= total / 2 { halfAt = sim.now }
            if doneAt == nil && sim.received == total { doneAt = sim.now }
            peakUnread = Swift.max(peakUnread, sim.server?.readableBytes ?? 0)
        }
        #expect(sim.isDone, "stalled at \(sim.now): received \(sim.received)")
        var expected = PatternSource(total: total, seed: seed)
        expected.feed { $0.count }
        #expect(sim.sink.finish() == expected.digest(), "sha256 of the received stream differs")
        let end = doneAt ?? sim.now
        let seconds = Double(end.nanoseconds - (halfAt ?? .zero).nanoseconds) / 1e9
        return Outcome(
            secondHalfRate: Double(total - total / 2) / seconds, peakUnread: peakUnread,
            finalLimit: sim.server?.receiveWindowLimit ?? 0)
    }

    @Test("A 1.25 MB bandwidth-delay product reaches line rate only with auto-tuning (64 KiB initial window either way)")
    func highBDPReachesLineRate() {
        var tuned = TCPConfiguration()
        tuned.receiveBufferSize = 8 << 20
        tuned.initialReceiveWindow = 64 << 10
        tuned.receiveWindowAutoTuning = true
        var fixed = TCPConfiguration()
        fixed.receiveBufferSize = 64 << 10
        fixed.receiveWindowAutoTuning = false
        let withTuning = run(total: 16 << 20, seed: 61, server: tuned)
        let without = run(total: 4 << 20, seed: 61, server: fixed)
        print("high BDP: tuned \(withTuning.secondHalfRate / 1e6) MB/s (limit \(withTuning.finalLimit)), fixed 64 KiB \(without.secondHalfRate / 1e6) MB/s, line \(Double(Self.lineRate) / 1e6) MB/s")
        #expect(withTuning.secondHalfRate >= 0.9 * Double(Self.lineRate))
        #expect(withTuning.finalLimit >= 1_250_000, "the limit covers the bandwidth-delay product")
        // 64 KiB per 100 ms round trip: 0.66 MB/s, 5 % of the line.
        #expect(without.secondHalfRate <= 0.1 * Double(Self.lineRate))
    }

    @Test("A reader slower than the path keeps the window (and the bytes it holds) near twice its rate per RTT")
    func slowReaderHoldsLittle() {
        var tuned = TCPConfiguration()
        tuned.receiveBufferSize = 8 << 20
        tuned.receiveWindowAutoTuning = true
        var fixed = tuned
        fixed.receiveWindowAutoTuning = false
        let readRate = 2_000_000  // bytes per second: 200 kB per round trip
        let withTuning = run(total: 4 << 20, seed: 62, server: tuned, readRate: readRate)
        let without = run(total: 4 << 20, seed: 62, server: fixed, readRate: readRate)
        print("slow reader: peak unread tuned \(withTuning.peakUnread) (limit \(withTuning.finalLimit)), fixed \(without.peakUnread)")
        // 2·200 kB + 16 segments, and one round of slack.
        #expect(withTuning.finalLimit <= 3 * 200_000)
        #expect(withTuning.peakUnread <= withTuning.finalLimit)
        #expect(without.peakUnread >= 2 << 20, "a fixed 8 MiB window lets the sender fill the buffer")
        // Both drain at the reader's rate.
        #expect(withTuning.secondHalfRate >= 0.9 * Double(readRate))
    }
}
