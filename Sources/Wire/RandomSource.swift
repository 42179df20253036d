/// The source of a protocol's non-secret random choices: timer jitter, session indices, ephemeral
/// ports, initial sequence numbers. Production uses ``system`` (the operating system's generator);
/// tests and simulations pass a seed, so that every run replays exactly.
///
/// Keys, nonces and cookie secrets never come from here: they come from libsodium.
public struct RandomSource: RandomNumberGenerator, Sendable {
    /// The SplitMix64 state, or nil for the system generator.
    private var state: UInt64?

    /// Draws from the system's generator (`getrandom(2)`): unpredictable, not replayable.
    public static var system: RandomSource { RandomSource(state: nil) }

    /// A deterministic generator (SplitMix64, Steele, Lea & Flood, OOPSLA 2014): the same seed gives
    /// the same sequence. For tests and simulations only.
    public init(seed: UInt64) { state = seed }

    /// ``init(seed:)`` with a seed, ``system`` without.
    public init(seed: UInt64?) { state = seed }

    private init(state: UInt64?) { self.state = state }

    /// Whether the sequence replays from a seed.
    public var isSeeded: Bool { state != nil }

    public mutating func next() -> UInt64 {
        guard var s = state else {
            var system = SystemRandomNumberGenerator()
            return system.next()
        }
        s &+= 0x9E37_79B9_7F4A_7C15
        state = s
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 32 random bits.
    public mutating func next32() -> UInt32 { UInt32(truncatingIfNeeded: next() >> 16) }
}
