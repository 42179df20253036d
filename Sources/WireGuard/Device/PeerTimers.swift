import Wire

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

/// The earliest timer deadline of each of a device's peers, in a `DeadlineHeap` keyed by the peer's
/// slot, so that ``WireGuardDevice/poll(into:now:)`` reads the next deadline in O(1) and visits only
/// the peers with a due timer (O(log n) each), never every peer. A peer whose `timers` change marks
/// its slot stale (the `Peer.timers` observer); the device reads stale peers' deadlines again before
/// it looks at the heap, so every entry is the peer's exact earliest deadline.
final class PeerTimerSchedule {
    /// Each peer's earliest deadline, by slot.
    var heap = DeadlineHeap()
    /// Slots whose heap entry may be out of date.
    private var stale: [Int32] = []
    private var freeSlots: [Int32] = []
    private var slotCount: Int32 = 0

    /// A slot for a new peer (a freed one first, so slots stay dense).
    func allocateSlot() -> Int32 {
        if let slot = freeSlots.popLast() { return slot }
        slotCount += 1
        return slotCount - 1
    }

    /// Releases the slot of a removed peer and its deadline.
    func freeSlot(_ slot: Int32) {
        heap.cancel(slot)
        freeSlots.append(slot)
    }

    func markStale(_ slot: Int32) { stale.append(slot) }

    /// Re-reads the deadline of every stale slot with `deadline` (nil: none, or no peer).
    func refresh(_ deadline: (Int32) -> NetInstant?) {
        guard !stale.isEmpty else { return }
        for slot in stale { heap.schedule(slot, at: deadline(slot)) }
        stale.removeAll(keepingCapacity: true)
    }
}

