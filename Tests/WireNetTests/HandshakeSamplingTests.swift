import Testing
import Wire
@testable import WireNet

/// The policy that attaches, retunes and removes the kernel's handshake sampling filter: a flood's
/// rate is estimated from what passes the filter times its factor, once a second.
@Suite("HandshakeSampling")
struct HandshakeSamplingTests {
    /// The device's defaults: budget 4096/s, under load above 1000/s.
    static func policy() -> HandshakeSampling { HandshakeSampling(budget: 4096, loadThreshold: 1000) }

    static func at(_ seconds: Double) -> NetInstant { NetInstant(nanoseconds: Int64(seconds * 1e9)) }

    /// Feeds `perSecond` handshake messages offered to the socket for each of `seconds` (of which the
    /// policy sees what its filter lets through), reviewing every 0.1 s; returns the actions.
    static func offer(_ perSecond: Int, for seconds: Int, from start: Double,
                      to policy: inout HandshakeSampling) -> [HandshakeSampling.Action] {
        var actions: [HandshakeSampling.Action] = []
        for tenth in 1...(seconds * 10) {
            policy.note(handshakeMessages: perSecond / 10 / Int(policy.oneIn ?? 1))
            if let action = policy.review(now: at(start + Double(tenth) / 10)) { actions.append(action) }
        }
        return actions
    }

    @Test func aRateWithinTwiceTheBudgetAttachesNothing() {
        var policy = Self.policy()
        _ = policy.review(now: Self.at(0))
        #expect(Self.offer(8000, for: 5, from: 0, to: &policy) == [])
        #expect(policy.oneIn == nil)
    }

    @Test func aFloodAttachesTheFilterWithTheRateOverTheBudget() {
        var policy = Self.policy()
        _ = policy.review(now: Self.at(0))
        // 360 000/s (one python attacker here): ⌈360000 / 4096⌉ = 88.
        #expect(Self.offer(360_000, for: 1, from: 0, to: &policy) == [.sample(oneIn: 88)])
        #expect(policy.oneIn == 88)
    }

    @Test func aSteadyFloodKeepsTheFilterAsItIs() {
        var policy = Self.policy()
        _ = policy.review(now: Self.at(0))
        _ = Self.offer(360_000, for: 1, from: 0, to: &policy)
        // Seen through the filter, the same flood estimates to the same rate: no change.
        #expect(Self.offer(360_000, for: 10, from: 1, to: &policy) == [])
        #expect(policy.oneIn == 88)
    }

    @Test func aFloodTwiceAsFastRetunesTheFactor() {
        var policy = Self.policy()
        _ = policy.review(now: Self.at(0))
        _ = Self.offer(100_000, for: 1, from: 0, to: &policy)
        #expect(policy.oneIn == 25)
        #expect(Self.offer(400_000, for: 1, from: 1, to: &policy) == [.sample(oneIn: 98)])
        // Less than a halving of the rate is not worth a new filter.
        #expect(Self.offer(250_000, for: 1, from: 2, to: &policy) == [])
    }

    @Test func theFilterGoesAfterTwoQuietSecondsNotOne() {
        var policy = Self.policy()
        _ = policy.review(now: Self.at(0))
        _ = Self.offer(360_000, for: 1, from: 0, to: &policy)
        #expect(Self.offer(0, for: 1, from: 1, to: &policy) == [])
        #expect(policy.oneIn == 88)
        #expect(Self.offer(0, for: 1, from: 2, to: &policy) == [.passAll])
        #expect(policy.oneIn == nil)
        #expect(Self.offer(500, for: 3, from: 3, to: &policy) == [])
    }

    @Test func aRateBetweenThresholdAndBudgetKeepsSamplingAtTheSmallestFactor() {
        var policy = Self.policy()
        _ = policy.review(now: Self.at(0))
        _ = Self.offer(20_000, for: 1, from: 0, to: &policy)
        #expect(policy.oneIn == 5)
        // 3000/s is under load but within the budget: sample at 2 (the least), do not stop.
        #expect(Self.offer(3000, for: 3, from: 1, to: &policy) == [.sample(oneIn: 2)])
        #expect(policy.oneIn == 2)
    }

    @Test func theFactorIsBounded() {
        var policy = HandshakeSampling(budget: 1, loadThreshold: 1)
        _ = policy.review(now: Self.at(0))
        policy.note(handshakeMessages: 10_000_000)
        #expect(policy.review(now: Self.at(1)) == .sample(oneIn: HandshakeSampling.maximumOneIn))
    }

    @Test func noBudgetMeansNoSampling() {
        var policy = HandshakeSampling(budget: 0, loadThreshold: 1000)
        _ = policy.review(now: Self.at(0))
        policy.note(handshakeMessages: 1_000_000)
        #expect(policy.review(now: Self.at(1)) == nil)
    }

    @Test func onlyInitiationsAndResponsesAreSampled() {
        var bytes: [UInt8] = [0, 0, 0, 0]
        let sampled = (0...5).map { type -> Bool in
            bytes[0] = UInt8(type)
            return bytes.withUnsafeMutableBytes { HandshakeSampling.isSampled($0) }
        }
        #expect(sampled == [false, true, true, false, false, false])
        #expect(!HandshakeSampling.isSampled(UnsafeMutableRawBufferPointer(start: nil, count: 0)))
        var stunBindingResponse: [UInt8] = [0x01, 0x01, 0x00, 0x0C, 0x21, 0x12, 0xA4, 0x42]
        #expect(!stunBindingResponse.withUnsafeMutableBytes { HandshakeSampling.isSampled($0) })
        var truncatedInitiation: [UInt8] = [1, 0]
        #expect(!truncatedInitiation.withUnsafeMutableBytes { HandshakeSampling.isSampled($0) })
    }
}
