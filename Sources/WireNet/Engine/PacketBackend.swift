import WireGuard
import Wire

/// What sits behind WireGuard in a node: it takes the IP packets that arrive through the tunnel and
/// produces the IP packets to send through it.
///
/// Two backends exist: the userspace TCP/IP stack (the default, no privileges needed) and a kernel
/// TUN device (root; the host's own stack then serves the tunnel, as with wireguard-go). The engine's
/// loop thread is the only caller, so a backend needs no locks of its own.
protocol PacketBackend: AnyObject {
    /// An IP packet that arrived through the tunnel from `peer`. The bytes are valid only during the
    /// call (they live in a receive buffer the transport reuses).
    func deliver(_ packet: UnsafeMutableRawBufferPointer, from peer: PublicKey, now: NetInstant)

    /// Writes the next IP packet to send into `buffer` and returns its length, or nil when there is
    /// nothing to send now. `buffer` holds one packet of the tunnel MTU. Bytes of the packet that the
    /// backend left where they are (a TCP payload in its send buffer) are listed in `payload`, with
    /// their offsets in the packet; they stay valid until ``releaseGatheredPayloads()``.
    func nextOutbound(into buffer: UnsafeMutableRawBufferPointer, gathering payload: inout GatherList, now: NetInstant) -> Int?

    /// Called once every packet taken from ``nextOutbound(into:gathering:now:)`` this turn has been
    /// sealed: the payload runs it handed out may be reused from now on.
    func releaseGatheredPayloads()

    /// Runs the backend's own work for this loop turn (due timers, waking waiters); called once per
    /// turn after received packets were delivered and before outbound packets are collected.
    func service(now: NetInstant)

    /// When the backend next wants to run without new input (its timers); nil when it has none.
    func nextDeadline(now: NetInstant) -> NetInstant?

    /// A descriptor that becomes readable when ``nextOutbound(into:now:)`` has something, for
    /// backends fed from outside the loop (a TUN device); -1 when everything comes through the loop.
    var pollDescriptor: CInt { get }

    /// Called once per turn right after the turn's packets were handed to the transport: completions
    /// that only let a caller go on are resumed here, so their wake-ups do not delay the packets.
    func finishTurn()

    /// Releases what the backend holds; called once, on the loop thread, when the engine stops.
    func close()
}

extension PacketBackend {
    func finishTurn() {}
    func releaseGatheredPayloads() {}
}
