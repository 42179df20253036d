import Wire

/// Chooses the numbers that identify a new TCP connection — ISS, the timestamp clock offset and the
/// ephemeral port — so that a new incarnation of a recently used 4-tuple is told apart from the old
/// one by the peer still holding it in TIME-WAIT.
///
/// With independent random choices (what this stack did before), a client that reuses a 4-tuple
/// sends a SYN whose sequence number and TSval are older than the peer's TIME-WAIT state half of the
/// time; the peer refuses it (RFC 9293 §3.10.7.4, RFC 6191 §2) and the client waits for its 1 s
/// initial RTO. So, as Linux does:
/// - ISS = M + F(4-tuple, secret), M a 4 µs clock (RFC 6528 §3, RFC 9293 §3.4.1);
/// - timestamp offset = F(4-tuple, secret) (RFC 7323 §5.4 and Appendix; Linux `tcp_ts_off`), so TSval
///   grows across incarnations of one 4-tuple;
/// - ephemeral port = min + (F(local, remote, secret) + counter) mod range, counter += 1 per attempt
///   (RFC 6056 §3.3.3, Algorithm 3): a port comes back only after the whole range was used.
///
/// The secret comes from the stack's random source, so a seeded stack replays exactly.
struct ConnectionIdentifiers {
    /// RFC 6056 §2.1: the IANA dynamic range 49152–65535.
    static let ephemeralPorts: ClosedRange<UInt16> = 49152...65535
    /// RFC 9293 §3.4.1 / RFC 6528 §3: M ticks every 4 microseconds.
    static let sequenceClockTick: Int64 = 4_000

    private let prf: SipHash
    private var nextPortAttempt: UInt64 = 0

    init(random: inout RandomSource) {
        prf = SipHash(k0: random.next(), k1: random.next())
        nextPortAttempt = random.next() & 0xffff
    }

    /// RFC 6528 §3: ISS = M + F(localip, localport, remoteip, remoteport, secretkey).
    func initialSequenceNumber(local: IPEndpoint, remote: IPEndpoint, now: NetInstant) -> SequenceNumber {
        let f = UInt32(truncatingIfNeeded: hash(local: local, remote: remote, domain: 1))
        let m = UInt32(truncatingIfNeeded: now.nanoseconds / Self.sequenceClockTick)
        return SequenceNumber(f &+ m)
    }

    /// RFC 7323 §5.4: a per-4-tuple random offset added to the timestamp clock.
    func timestampOffset(local: IPEndpoint, remote: IPEndpoint) -> UInt32 {
        UInt32(truncatingIfNeeded: hash(local: local, remote: remote, domain: 2))
    }

    /// RFC 6056 §3.3.3 (Algorithm 3): the next ephemeral port to try towards `remote`. Call again for
    /// the next candidate when a port is taken.
    mutating func nextEphemeralPort(local: IPAddress, remote: IPEndpoint) -> UInt16 {
        let offset = hash(local: IPEndpoint(local, 0), remote: remote, domain: 3)
        let range = UInt64(Self.ephemeralPorts.count)
        let port = UInt64(Self.ephemeralPorts.lowerBound) + (offset &+ nextPortAttempt) % range
        nextPortAttempt &+= 1
        return UInt16(port)
    }

    private func hash(local: IPEndpoint, remote: IPEndpoint, domain: UInt64) -> UInt64 {
        let (la, lb) = Self.words(local.address)
        let (ra, rb) = Self.words(remote.address)
        let ports = UInt64(local.port) << 16 | UInt64(remote.port) | domain << 32
        return prf.hash(la, lb, ra, rb, ports)
    }

    private static func words(_ address: IPAddress) -> (UInt64, UInt64) {
        switch address {
        case .v4(let a): return (UInt64(a.rawValue), 0)
        case .v6(let a): return (a.high, a.low)
        }
    }
}
