import Wire

/// One transport message's AEAD work, split from the protocol state so that any thread may do it.
///
/// The device (the single owner of peers, keypairs, counters and replay windows) prepares a job:
/// it routes the packet, assigns the counter, writes the header and padding, and copies the 32-byte
/// key into the job (a snapshot; the keypair may rotate afterwards without affecting the job). A worker
/// thread then calls ``perform()``, which touches only the job and the packet bytes it points at.
/// Opened messages go back to the owner (``WireGuardDevice/completeReceive(_:opened:now:)``), which
/// checks the replay window only then, as wireguard-go does after `RoutineDecryption`.
///
/// A job is a plain value (no references, no heap): queues of jobs are preallocated once.
public struct TransportCryptoJob: @unchecked Sendable {
    /// Which way the AEAD runs.
    public enum Operation: UInt8, Sendable {
        /// Encrypt in place and append the tag.
        case seal
        /// Check the tag and decrypt in place.
        case open
    }

    /// Seal or open.
    public let operation: Operation
    /// The first plaintext/ciphertext byte (right after the 16-byte transport header).
    let text: UnsafeMutableRawPointer
    /// Plaintext length (padded); the 16-byte tag follows it.
    let length: Int
    /// The message counter, the nonce (paper §5.4.6).
    let counter: UInt64
    /// A copy of the sending or receiving key, wiped by ``wipeKey()``.
    var key: Key32
    /// For a seal: the plaintext bytes that are not at `text` but elsewhere (a TCP send buffer),
    /// offsets relative to `text`; sealed straight from there (``GatherSeal``). Empty for opens.
    let plaintext: GatherList
    /// After ``perform()``: true when sealed, or when the tag verified and the text was decrypted.
    public private(set) var succeeded = false

    init(operation: Operation, text: UnsafeMutableRawPointer, length: Int, counter: UInt64, key: Key32,
         plaintext: GatherList = GatherList()) {
        self.operation = operation
        self.text = text
        self.length = length
        self.counter = counter
        self.key = key
        self.plaintext = plaintext
    }

    /// Runs the AEAD over the packet bytes in place (ChaCha20-Poly1305, paper §5.4.6), a seal reading
    /// its gathered plaintext where it lies. Touches no device state, so jobs of one batch may run on
    /// different threads at once.
    @inline(__always)
    public mutating func perform() {
        let (text, length, counter) = (text, length, counter)
        switch operation {
        case .seal where plaintext.isEmpty:
            key.withUnsafeBytes { ChaCha20Poly1305.seal(key: $0.baseAddress!, counter: counter, text: text, length: length) }
            succeeded = true
        case .seal:
            let seal = GatherSeal(destination: text, length: length, plaintext: plaintext)
            key.withUnsafeBytes { seal.seal(key: $0.baseAddress!, counter: counter) }
            succeeded = true
        case .open:
            succeeded = key.withUnsafeBytes {
                ChaCha20Poly1305.open(key: $0.baseAddress!, counter: counter, text: text, length: length)
            }
        }
    }

    /// Zeroes the key copy once the job is done, so no key outlives its use in a queue slot.
    @inline(__always)
    public mutating func wipeKey() {
        key.wipe()
    }
}

/// The outcome of ``WireGuardDevice/prepareSend(_:packetLength:gathering:now:)``.
public enum SendPreparation: @unchecked Sendable {
    /// Header, counter and padding are written; once `job` has run (on any thread), transmit
    /// `buffer[0..<length]` to `endpoint`.
    case seal(TransportCryptoJob, to: IPEndpoint, length: Int)
    /// Held until a handshake completes; the datagrams come out of ``WireGuardDevice/poll(into:now:)``.
    case queued
    /// Dropped and counted.
    case dropped(DropReason)
}

/// The outcome of ``WireGuardDevice/prepareReceive(_:length:from:now:)``.
public enum ReceivePreparation: @unchecked Sendable {
    /// A transport message that passed the index, age and replay pre-checks: run `job` (on any
    /// thread), then hand it back with `pending` to ``WireGuardDevice/completeReceive(_:opened:now:)``
    /// on the owner thread, in arrival order.
    case open(TransportCryptoJob, PendingTransportData)
    /// Finished without decryption (dropped and counted).
    case finished(ReceiveResult)
    /// A handshake or cookie message: complete every earlier pending message first, then call
    /// ``WireGuardDevice/receive(_:length:from:now:)`` with it (handshakes change keypairs).
    case handshake
}

/// Owner-side state of a transport message between its preparation and its completion. Stays on the
/// owner thread; workers see only the ``TransportCryptoJob``.
public struct PendingTransportData {
    let keypair: Keypair
    let source: IPEndpoint
    let length: Int
}
