import CSodium

/// The thin layer over libsodium: initialisation, secret randomness, constant-time helpers.
/// (Non-secret choices such as jitter and indices come from an injected `RandomSource`.)
enum Sodium {
    /// `sodium_init()` runs once, the first time any WireGuard type needs libsodium.
    static let initialized: Bool = { sodium_init() >= 0 }()

    /// Fills `buffer` with cryptographically secure random bytes.
    static func randomBytes(_ buffer: UnsafeMutableRawBufferPointer) {
        precondition(initialized)
        guard let base = buffer.baseAddress else { return }
        randombytes_buf(base, buffer.count)
    }

    /// Constant-time equality of two equally long buffers.
    static func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0 else { return true }
        return sodium_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
    }

    static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        sodium_memzero(base, buffer.count)
    }
}
