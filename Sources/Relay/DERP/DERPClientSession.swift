import WireGuard

/// The client side of one DERP connection after the HTTP upgrade, as a state machine: it takes the
/// relay's frames and the time, and returns what to do (``Event``). No I/O, no clock.
///
/// ```
///  awaitingServerKey ──ServerKey──▶ (send ClientInfo) awaitingServerInfo ──ServerInfo──▶ established
///          any violation, handshake timeout, relay silent after a ping ──▶ failed
/// ```
///
/// Liveness: a relay sends a keep-alive every 60 s; when nothing has arrived for
/// ``Timing/probeAfterIdle`` the session sends a ping, and when nothing arrives within
/// ``Timing/probeTimeout`` after it the connection counts as dead (``poll(now:)`` says so), so a
/// stalled relay is noticed without waiting for TCP.
public struct DERPClientSession {
    public enum State: Equatable, Sendable {
        case awaitingServerKey
        case awaitingServerInfo
        case established
        case failed
    }

    /// Timers of a session (implementation choices unless marked).
    public struct Timing: Sendable {
        /// Time allowed from the upgrade to the server info (tailscale's server allows 10 s).
        public var handshakeTimeout: Duration = .seconds(10)
        /// Silence after which the client pings the relay (below the relay's 60 s keep-alive, so a
        /// healthy idle connection sees one ping per keep-alive period at most).
        public var probeAfterIdle: Duration = .seconds(30)
        /// Time a pinged relay has to send anything before the connection counts as dead.
        public var probeTimeout: Duration = .seconds(5)

        public init() {}
    }

    /// What the caller does after handing the session a frame.
    public enum Event {
        /// Nothing to do.
        case none
        /// Send these bytes to the relay (client info, a pong).
        case reply([UInt8])
        /// The handshake is done: send `reply` (the note-preferred frame), then packets may flow.
        case established(DERPServerInfo, reply: [UInt8])
        /// A packet from `source`, valid until the next read into the frame buffer.
        case packet(source: PublicKey, payload: UnsafeRawBufferPointer)
        /// `peer` left the relay.
        case peerGone(PublicKey, reason: DERPPeerGoneReason)
        /// The relay answered our ping after `roundTrip`.
        case latency(Duration)
        /// The relay reports a health problem (empty: resolved).
        case health(String)
        /// The relay is restarting: reconnect after `reconnectIn`.
        case restarting(reconnectIn: Duration, tryFor: Duration)
    }

    /// What ``poll(now:)`` asks for.
    public enum Action: Equatable {
        /// Send this ping frame.
        case send([UInt8])
        /// The connection is dead (handshake too slow, or silent after a ping): close it.
        case fail(String)
    }

    public private(set) var state: State = .awaitingServerKey
    /// The relay's public key, once its first frame arrived.
    public private(set) var serverKey: PublicKey?
    public private(set) var serverInfo: DERPServerInfo?
    /// Frames of known types too short for their fields, dropped after the handshake.
    public private(set) var malformedFrames = 0
    /// Frames a client ignores (mesh frames, unknown types).
    public private(set) var ignoredFrames = 0
    /// The last measured round trip to the relay.
    public private(set) var latency: Duration?

    private let privateKey: PrivateKey
    private var expectedServerKey: PublicKey?
    private let preferred: Bool
    private let timing: Timing
    private let startedAt: NetInstant
    private var lastReceived: NetInstant
    private var outstandingPing: (data: UInt64, sentAt: NetInstant)?
    private var nextPingData: UInt64

    /// - Parameters:
    ///   - privateKey: the node's key (its WireGuard key is its identity on a relay).
    ///   - expectedServerKey: a key the relay must present (from `Derp-Public-Key`), if known.
    ///   - preferred: whether this relay is the node's home region (sent as note-preferred).
    ///   - pingSeed: start of the ping data sequence (a random value; the data need not be secret).
    public init(privateKey: PrivateKey, expectedServerKey: PublicKey? = nil, preferred: Bool,
                timing: Timing = Timing(), pingSeed: UInt64, now: NetInstant) {
        self.privateKey = privateKey
        self.expectedServerKey = expectedServerKey
        self.preferred = preferred
        self.timing = timing
        startedAt = now
        lastReceived = now
        nextPingData = pingSeed
    }

    /// The session, now also requiring the relay to present `serverKey` (the key its HTTP upgrade
    /// response announced). Only meaningful before the server-key frame.
    public func expecting(serverKey: PublicKey) -> DERPClientSession {
        var copy = self
        if state == .awaitingServerKey { copy.expectedServerKey = serverKey }
        return copy
    }

    /// Handles one frame from the relay.
    /// - Throws: ``DERPError`` for a handshake violation; after the handshake, malformed frames are
    ///   counted and dropped instead. The caller closes the connection on a throw.
    public mutating func receive(_ frame: DERPFrame, now: NetInstant) throws(DERPError) -> Event {
        guard state != .failed else { throw .unexpectedFrame(frame.type, state: "failed") }
        lastReceived = now
        let message: DERPServerMessage
        do {
            message = try DERPServerMessage(parsing: frame)
        } catch {
            if state == .established, case .frameTooShort = error {
                malformedFrames += 1
                return .none
            }
            state = .failed
            throw error
        }
        switch (state, message) {
        case (.awaitingServerKey, .serverKey(let key)):
            if let expectedServerKey, expectedServerKey != key {
                state = .failed
                throw .unexpectedServerKey
            }
            guard let box = NaClBox(privateKey: privateKey, peer: key) else {
                state = .failed
                throw .badServerKey
            }
            serverKey = key
            state = .awaitingServerInfo
            let info = Array("{\"version\":\(DERPProtocol.version),\"CanAckPings\":true}".utf8)
            return .reply(DERPFrameWriter.clientInfo(publicKey: privateKey.publicKey, sealedInfo: box.seal(info)))
        case (.awaitingServerKey, _):
            state = .failed
            throw .badServerKey
        case (.awaitingServerInfo, .serverInfo(let sealed)):
            guard let serverKey, let box = NaClBox(privateKey: privateKey, peer: serverKey),
                  let json = box.open(sealed), let info = DERPServerInfo(json: json)
            else {
                state = .failed
                throw .badServerInfo
            }
            serverInfo = info
            state = .established
            return .established(info, reply: DERPFrameWriter.notePreferred(preferred))
        case (.awaitingServerInfo, _):
            state = .failed
            throw .unexpectedFrame(frame.type, state: "waiting for the server info")
        case (.established, .packet(let source, let payload)):
            return .packet(source: source, payload: payload)
        case (.established, .peerGone(let key, let reason)):
            return .peerGone(key, reason: reason)
        case (.established, .ping(let data)):
            return .reply(DERPFrameWriter.pong(data))
        case (.established, .pong(let data)):
            guard let ping = outstandingPing, ping.data == data else { return .none }
            outstandingPing = nil
            let roundTrip = now.since(ping.sentAt)
            latency = roundTrip
            return .latency(roundTrip)
        case (.established, .health(let text)):
            return .health(String(decoding: text.prefix(1024), as: UTF8.self))
        case (.established, .restarting(let reconnectIn, let tryFor)):
            return .restarting(reconnectIn: reconnectIn, tryFor: tryFor)
        case (.established, .keepAlive):
            return .none
        case (.established, .ignored), (.established, .peerPresent):
            ignoredFrames += 1
            return .none
        case (.established, .serverKey), (.established, .serverInfo):
            state = .failed
            throw .unexpectedFrame(frame.type, state: "established")
        case (.failed, _):
            throw .unexpectedFrame(frame.type, state: "failed")
        }
    }

    /// A ping to measure the relay's latency now (also sent by ``poll(now:)`` on silence); nil
    /// before the handshake or while a ping is outstanding.
    public mutating func ping(now: NetInstant) -> [UInt8]? {
        guard state == .established, outstandingPing == nil else { return nil }
        nextPingData &+= 0x9E37_79B9_7F4A_7C15  // Weyl sequence: distinct data for each ping
        outstandingPing = (nextPingData, now)
        return DERPFrameWriter.ping(nextPingData)
    }

    /// Runs the session's timers.
    public mutating func poll(now: NetInstant) -> Action? {
        switch state {
        case .failed:
            return nil
        case .awaitingServerKey, .awaitingServerInfo:
            guard now.since(startedAt) >= timing.handshakeTimeout else { return nil }
            state = .failed
            return .fail("the relay did not complete the DERP handshake within \(timing.handshakeTimeout)")
        case .established:
            if let ping = outstandingPing {
                guard now.since(ping.sentAt) >= timing.probeTimeout else { return nil }
                guard lastReceived >= ping.sentAt else {
                    state = .failed
                    return .fail("the relay sent nothing for \(now.since(lastReceived)) and did not answer a ping")
                }
                outstandingPing = nil  // alive, but this pong is lost: stop waiting for it
            }
            guard now.since(lastReceived) >= timing.probeAfterIdle, let frame = ping(now: now) else { return nil }
            return .send(frame)
        }
    }

    /// When ``poll(now:)`` next has something to do.
    public var nextDeadline: NetInstant? {
        switch state {
        case .failed: return nil
        case .awaitingServerKey, .awaitingServerInfo: return startedAt + timing.handshakeTimeout
        case .established:
            if let ping = outstandingPing { return ping.sentAt + timing.probeTimeout }
            return lastReceived + timing.probeAfterIdle
        }
    }
}
