/// WireGuard's protocol constants.
///
/// "Paper" values come from the WireGuard whitepaper (Donenfeld, NDSS 2017, rev. e2da747), §6.1
/// ("Preliminaries", the table of Rekey-/Reject-/Keepalive constants) and §6.4 ("Handshake Initiation
/// Retransmission"); the cookie constants from §5.4.7; the initiation rate from §5.3 / wireguard-go.
/// "Implementation" values are choices this module shares with wireguard-go (device/constants.go).
public enum ProtocolConstants {
    // MARK: Paper §6.1

    /// Paper §6.1 `Rekey-After-Messages` = 2⁶⁰: the initiator starts a new handshake after sending this many messages.
    public static let rekeyAfterMessages: UInt64 = 1 << 60
    /// Paper §6.1 `Reject-After-Messages` = 2⁶⁴ − 2¹³ − 1: a keypair is never used for more messages.
    public static let rejectAfterMessages: UInt64 = UInt64.max - (1 << 13)
    /// Paper §6.1 `Rekey-After-Time` = 120 s: the initiator starts a new handshake for keys this old.
    public static let rekeyAfterTime = Duration.seconds(120)
    /// Paper §6.1 `Reject-After-Time` = 180 s: keys this old are neither used to send nor to receive.
    public static let rejectAfterTime = Duration.seconds(180)
    /// Paper §6.1 `Rekey-Attempt-Time` = 90 s: how long handshake retries go on.
    public static let rekeyAttemptTime = Duration.seconds(90)
    /// Paper §6.1 `Rekey-Timeout` = 5 s: time between handshake retries.
    public static let rekeyTimeout = Duration.seconds(5)
    /// Paper §6.1 `Keepalive-Timeout` = 10 s: passive keepalive after receiving data and sending none.
    public static let keepaliveTimeout = Duration.seconds(10)

    // MARK: Paper §6.4 / §6.5

    /// Paper §6.1: retries stop after `Rekey-Attempt-Time / Rekey-Timeout` = 18 attempts.
    public static let maxHandshakeAttempts = 18
    /// Paper §6.1: up to 333 ms of jitter is added to `Rekey-Timeout` (wireguard-go: `RekeyTimeoutJitterMaxMs` = 334,
    /// exclusive upper bound).
    public static let rekeyTimeoutJitterMaxMilliseconds: UInt32 = 334
    /// Paper §6.2 (key rotation): an initiator whose receiving key is older than
    /// `Reject-After-Time − Keepalive-Timeout − Rekey-Timeout` rekeys on the next received data.
    public static let rekeyOnReceiveAge = rejectAfterTime - keepaliveTimeout - rekeyTimeout
    /// Paper §6.3: all key material is erased after `3 × Reject-After-Time` without a new session.
    public static let zeroKeyMaterialAfter = rejectAfterTime * 3
    /// Paper §6.5 "new handshake" timer: `Keepalive-Timeout + Rekey-Timeout` after sending data with no reply.
    public static let newHandshakeAfterUnansweredData = keepaliveTimeout + rekeyTimeout

    // MARK: Paper §5.3 / §5.4.7 (DoS mitigation)

    /// Paper §5.4.7: cookie secrets rotate (and cookies expire) every 120 s.
    public static let cookieRefreshTime = Duration.seconds(120)
    /// Paper §5.3: a peer's initiations are accepted at most once per 1/50 s
    /// (wireguard-go `HandshakeInitationRate`).
    public static let handshakeInitiationRate = Duration.milliseconds(20)

    // MARK: Paper §5.4.6 (transport data)

    /// Paper §5.4.6: plaintext is zero-padded to a multiple of 16 bytes.
    public static let paddingMultiple = 16

    // MARK: Implementation (wireguard-go device/constants.go)

    /// wireguard-go `UnderLoadAfterTime`: the device stays "under load" this long after load was seen.
    public static let underLoadAfterTime = Duration.seconds(1)
    /// wireguard-go `QueueStagedSize`: packets held per peer while a handshake is pending.
    public static let stagedPacketLimit = 128
    /// Largest datagram (wireguard-go `MaxMessageSize`, the UDP maximum 2¹⁶ − 1).
    public static let maxMessageSize = 65535
}
