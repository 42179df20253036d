/// The stack's source of unpredictable numbers: ISS (RFC 9293 §3.4.1, RFC 6528), ephemeral ports
/// (RFC 6056) and timestamp offsets (RFC 7323 §5.4). System randomness unless a seed is configured.
struct StackRandom {
    private var seeded: UInt64?

    init(seed: UInt64?) { seeded = seed }

    mutating func next() -> UInt64 {
        guard var state = seeded else {
            var system = SystemRandomNumberGenerator()
            return system.next()
        }
        // SplitMix64 (deterministic; for tests and simulations only).
        state &+= 0x9E37_79B9_7F4A_7C15
        seeded = state
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next32() -> UInt32 { UInt32(truncatingIfNeeded: next() >> 16) }
}
