/// A peer's protocol timers as deadlines (WireGuard paper §6.2–§6.5, wireguard-go timers.go).
/// The device fires them from ``WireGuardDevice/poll(into:now:)``; `nil` means not pending.
struct PeerTimers {
    /// Paper §6.4: resend an initiation that got no response after `Rekey-Timeout` + jitter.
    var retransmitHandshake: NetInstant?
    /// Paper §6.5: send a keepalive `Keepalive-Timeout` after receiving data we did not answer.
    var sendKeepalive: NetInstant?
    /// Paper §6.5: start a handshake when data we sent got no reply for `Keepalive-Timeout + Rekey-Timeout`.
    var newHandshake: NetInstant?
    /// Paper §6.3: erase all keys `3 × Reject-After-Time` after the last session was derived.
    var zeroKeyMaterial: NetInstant?
    /// Persistent keepalive (wg(8) `persistent-keepalive`), after any authenticated packet traversal.
    var persistentKeepalive: NetInstant?

    /// Data arrived while the keepalive timer was pending: re-arm it after it fires.
    var needAnotherKeepalive = false
    /// Initiations sent since the last completed handshake (limit: paper §6.4, 18).
    var handshakeAttempts = 0
    /// The one "last-minute" rekey on receive was already started (paper §6.2).
    var sentLastMinuteHandshake = false

    /// The earliest pending deadline.
    var earliest: NetInstant? {
        func earlier(_ a: NetInstant?, _ b: NetInstant?) -> NetInstant? {
            guard let a else { return b }
            guard let b else { return a }
            return min(a, b)
        }
        return earlier(earlier(earlier(retransmitHandshake, sendKeepalive), earlier(newHandshake, zeroKeyMaterial)),
                       persistentKeepalive)
    }

}
