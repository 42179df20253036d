@testable import NetStack
import Wire

/// Impairments of a simulated link (one direction).
struct LinkImpairments {
    /// Probability a packet is dropped.
    var loss: Double = 0
    /// Probability a packet is delivered twice.
    var duplication: Double = 0
    /// Probability a packet is held back by `reorderDelay` extra (so later packets overtake it).
    var reordering: Double = 0
    /// One-way propagation delay.
    var delay: Duration = .milliseconds(10)
    /// Extra delay of a reordered packet.
    var reorderDelay: Duration = .milliseconds(5)
    /// Serialization rate in bytes per second (0 = infinite); packets queue behind each other.
    var bytesPerSecond: Int = 0
    /// Drop-tail queue limit in packets (0 = unlimited), models a bottleneck buffer.
    var queueLimit: Int = 0
    /// Probability a packet starts a burst of drops lasting `burstDuration` (a full socket buffer).
    var burstLoss: Double = 0
    /// How long one burst drops every packet, this one included.
    var burstDuration: Duration = .zero
    /// A delay spike: packets sent in `[start, end)` are held until `end` (a stalled radio link that
    /// buffers), then leave at the link's rate and take the normal delay. Nothing is lost.
    var stall: (start: NetInstant, end: NetInstant)? = nil
}

/// A one-direction link with loss, duplication, reordering, delay, bandwidth and a bounded queue,
/// driven by a virtual clock and a seeded generator.
struct FaultyLink<Packet> {
    var impairments: LinkImpairments
    private var random: SeededRandom
    private var inFlight: [(time: NetInstant, order: Int, packet: Packet)] = []
    private var order = 0
    private var linkFreeAt = NetInstant.zero
    private(set) var sent = 0
    private(set) var dropped = 0
    private var burstEnd = NetInstant.zero

    init(_ impairments: LinkImpairments, seed: UInt64) {
        self.impairments = impairments
        random = SeededRandom(seed: seed)
    }

    mutating func send(_ packet: Packet, size: Int, now: NetInstant) {
        sent += 1
        if now >= burstEnd, impairments.burstLoss > 0, random.chance(impairments.burstLoss) {
            burstEnd = now + impairments.burstDuration
        }
        if now < burstEnd {
            dropped += 1
            return
        }
        if random.chance(impairments.loss) {
            dropped += 1
            return
        }
        if impairments.queueLimit > 0 && inFlight.count >= impairments.queueLimit {
            dropped += 1
            return
        }
        var departure = now
        if let stall = impairments.stall, now >= stall.start, now < stall.end { departure = stall.end }
        if impairments.bytesPerSecond > 0 {
            let start = Swift.max(departure, linkFreeAt)
            departure = start + Int64(size) * 1_000_000_000 / Int64(impairments.bytesPerSecond)
            linkFreeAt = departure
        }
        var arrival = departure + impairments.delay
        if random.chance(impairments.reordering) { arrival = arrival + impairments.reorderDelay }
        enqueue(packet, at: arrival)
        if random.chance(impairments.duplication) { enqueue(packet, at: arrival + 1_000) }
    }

    private mutating func enqueue(_ packet: Packet, at time: NetInstant) {
        order += 1
        // Keep sorted by (time, order); most packets append at the end.
        var i = inFlight.count
        while i > 0 && (inFlight[i - 1].time > time) { i -= 1 }
        inFlight.insert((time, order, packet), at: i)
    }

    var nextArrival: NetInstant? { inFlight.first?.time }

    /// Removes and returns the packets due at or before `now`.
    mutating func takeDue(now: NetInstant) -> [Packet] {
        var n = 0
        while n < inFlight.count && inFlight[n].time <= now { n += 1 }
        guard n > 0 else { return [] }
        let due = inFlight[0..<n].map(\.packet)
        inFlight.removeFirst(n)
        return due
    }
}
