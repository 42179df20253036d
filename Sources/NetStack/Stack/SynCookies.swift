import Wire

/// Stateless SYN cookies (RFC 4987 §3.6), laid out as Linux's `net/ipv4/syncookies.c`: when a
/// listener's SYN queue is full, the SYN,ACK's sequence number (our ISS) carries everything needed
/// to rebuild the connection from the handshake's final ACK, and no state is kept for the SYN.
///
/// ISS = H1(4-tuple) + SEG.SEQ of the SYN + (counter << 24) + ((H2(4-tuple, counter) + (MSS index << 22)) mod 2^24)
///
/// - H1, H2: SipHash-2-4 under a secret drawn at start-up from the stack's random source (the
///   source of its ISS secret: the system generator, or the seed of a simulation);
/// - counter: minutes of the stack's clock (Linux `tcp_cookie_time`); a cookie is accepted while the
///   counter has moved by less than `maximumAge` (Linux `MAX_SYNCOOKIE_AGE` = 2, i.e. 1–2 minutes);
/// - MSS index: the largest entry of `mssTable` not above the peer's MSS (Linux `msstab`); any
///   other value in the low 24 bits marks a forgery (a blind guess passes with odds 4 in 2^24).
///   Linux adds the index itself, so that a cookie (or peer ISN) off by 1–3 still passes, as another
///   MSS; here the index sits in the top 2 of the 24 bits and the 22 below must match exactly.
///
/// Options that do not fit in the sequence number travel in the low 6 bits of our TSval (Linux
/// `cookie_init_timestamp`), which the peer echoes in TSecr: bits 0–3 the peer's window scale (15:
/// none), bit 4 SACK-permitted, bit 5 ECN. Without timestamps the connection has neither window
/// scaling nor SACK, as in Linux. This stack does not negotiate ECN, so bit 5 is always 0 and an
/// ECN bit in an echo is ignored.
struct SynCookies {
    /// Bits of the ISS below the counter (Linux `COOKIEBITS`).
    static let counterShift: UInt32 = 24
    static let dataMask: UInt32 = (1 << counterShift) - 1
    /// Where the MSS index sits within the 24 data bits; the bits below it must decode to zero.
    static let mssIndexShift: UInt32 = 22
    /// The counter advances once per minute (Linux: `jiffies / (HZ * 60)`).
    static let counterPeriod: Int64 = 60_000_000_000
    /// A cookie is valid while the counter moved by less than this (Linux `MAX_SYNCOOKIE_AGE`).
    static let maximumAge: UInt32 = 2
    /// How long after the last cookie a listener still checks ACKs for cookies (Linux
    /// `tcp_synq_no_recent_overflow`: ACKs are taken for cookies only after a recent overflow).
    static let validationWindow: Int64 = Int64(maximumAge) * counterPeriod
    /// Linux `msstab` (IPv4) and `msstab` of `syncookies.c` for IPv6 (1280, 1480, 1500 and 9000 less 60).
    static let ipv4MSSTable: [UInt16] = [536, 1300, 1440, 1460]
    static let ipv6MSSTable: [UInt16] = [1220, 1420, 1440, 8940]
    /// TSval bits holding options (Linux `TSBITS`, `TS_OPT_WSCALE_MASK`, `TS_OPT_SACK`, `TS_OPT_ECN`).
    static let timestampOptionBits: UInt32 = 6
    static let windowScaleMask: UInt32 = 0xF
    static let sackBit: UInt32 = 1 << 4
    static let ecnBit: UInt32 = 1 << 5

    /// What the TSecr of a cookie handshake's final ACK says about the peer's SYN.
    struct EchoedOptions: Equatable {
        /// The peer's window-scale shift, nil when its SYN had none (or we do not scale).
        var windowScale: UInt8?
        var sackPermitted: Bool
        var ecn: Bool
    }

    private let prf: SipHash

    init(random: inout RandomSource) {
        prf = SipHash(k0: random.next(), k1: random.next())
    }

    static func mssTable(for address: IPAddress) -> [UInt16] {
        switch address {
        case .v4: return ipv4MSSTable
        case .v6: return ipv6MSSTable
        }
    }

    /// The largest table entry not above `peerMSS` (entry 0 when all are above).
    static func mssIndex(peerMSS: Int, table: [UInt16]) -> Int {
        var index = table.count - 1
        while index > 0 && peerMSS < Int(table[index]) { index -= 1 }
        return index
    }

    static func counter(at now: NetInstant) -> UInt32 {
        UInt32(truncatingIfNeeded: now.nanoseconds / counterPeriod)
    }

    /// Our ISS for a SYN whose sequence number is `peerSequence` (Linux `secure_tcp_syn_cookie`).
    func sequenceNumber(flow: TCPFlow, peerSequence: SequenceNumber, mssIndex: Int, now: NetInstant) -> SequenceNumber {
        let count = Self.counter(at: now)
        let data = (hash(flow, counter: count, domain: 2) &+ UInt32(mssIndex) << Self.mssIndexShift) & Self.dataMask
        return SequenceNumber(
            hash(flow, counter: 0, domain: 1) &+ peerSequence.rawValue &+ (count << Self.counterShift) &+ data)
    }

    /// The MSS index a cookie carries, or nil if it is forged, for another 4-tuple or peer sequence
    /// number, or older than `maximumAge` (Linux `check_tcp_syn_cookie`). `cookie` is SEG.ACK − 1
    /// and `peerSequence` SEG.SEQ − 1 of the final ACK.
    func check(_ cookie: SequenceNumber, flow: TCPFlow, peerSequence: SequenceNumber, now: NetInstant, tableSize: Int)
        -> Int?
    {
        let count = Self.counter(at: now)
        let value = cookie.rawValue &- (hash(flow, counter: 0, domain: 1) &+ peerSequence.rawValue)
        let age = (count &- (value >> Self.counterShift)) & (UInt32.max >> Self.counterShift)
        guard age < Self.maximumAge else { return nil }
        let data = (value &- hash(flow, counter: count &- age, domain: 2)) & Self.dataMask
        guard data & ((1 << Self.mssIndexShift) - 1) == 0 else { return nil }
        let index = Int(data >> Self.mssIndexShift)
        return index < tableSize ? index : nil
    }

    /// Our TSval for a cookie SYN,ACK (Linux `cookie_init_timestamp`): the millisecond clock with its
    /// low 6 bits replaced by the options, moved back by 64 ms if that put it in the future, plus the
    /// connection's timestamp offset (RFC 7323 §5.4).
    static func timestampValue(clock: UInt32, offset: UInt32, options: EchoedOptions) -> UInt32 {
        var bits = options.windowScale.map { UInt32(Swift.min($0, 14)) } ?? windowScaleMask
        if options.sackPermitted { bits |= sackBit }
        if options.ecn { bits |= ecnBit }
        let unit: UInt32 = 1 << timestampOptionBits
        var value = (clock & ~(unit - 1)) | bits
        if bits > clock & (unit - 1) { value &-= unit }
        return value &+ offset
    }

    /// The options encoded in a cookie TSval echoed as `echoReply` (Linux `cookie_timestamp_decode`).
    static func decode(echoReply: UInt32, offset: UInt32) -> EchoedOptions {
        let bits = echoReply &- offset
        let scale = bits & windowScaleMask
        return EchoedOptions(
            windowScale: scale == windowScaleMask ? nil : UInt8(scale), sackPermitted: bits & sackBit != 0,
            ecn: bits & ecnBit != 0)
    }

    private func hash(_ flow: TCPFlow, counter: UInt32, domain: UInt64) -> UInt32 {
        let (la, lb) = Self.words(flow.local.address)
        let (ra, rb) = Self.words(flow.remote.address)
        let rest = UInt64(flow.local.port) << 48 | UInt64(flow.remote.port) << 32
            | UInt64(counter & 0x3FFF_FFFF) << 2 | domain
        return UInt32(truncatingIfNeeded: prf.hash(la, lb, ra, rb, rest))
    }

    private static func words(_ address: IPAddress) -> (UInt64, UInt64) {
        switch address {
        case .v4(let a): return (UInt64(a.rawValue), 0)
        case .v6(let a): return (a.high, a.low)
        }
    }
}
