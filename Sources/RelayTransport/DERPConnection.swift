import Glibc
import Relay
import UDPTransport
import Wire
import WireGuard

/// How a connection reaches its relay.
public enum DERPTransportSecurity: Equatable, Sendable {
    /// TLS; `verifyCertificate` is false only for relays marked `InsecureForTests`.
    case tls(verifyCertificate: Bool)
    /// Plain HTTP (test relays that allow it).
    case plainHTTP
}

/// What a connection reports from ``DERPConnection/service(now:readable:writable:_:)``.
public enum DERPConnectionEvent {
    /// The DERP handshake completed; packets may flow.
    case established(DERPServerInfo)
    /// A packet from `source`: the bytes live in the connection's receive buffer and stay valid
    /// only during the callback; they may be modified in place (WireGuard decrypts there).
    case packet(source: PublicKey, payload: UnsafeMutableRawBufferPointer)
    /// `peer` is no longer connected to this relay.
    case peerGone(PublicKey, reason: DERPPeerGoneReason)
    /// A measured round trip to the relay.
    case latency(Duration)
    /// The relay's health text (empty: healthy).
    case health(String)
    /// The connection ended; `retryAfter` is the relay's hint when it announced a restart.
    case closed(reason: String, retryAfter: Duration?)
}

/// What happened to a packet handed to ``DERPConnection/send(_:to:)``.
public enum DERPSendOutcome: Equatable, Sendable {
    /// Written to the socket (or TLS) at once.
    case sent
    /// Waiting in the bounded outbound queue for the relay to take it.
    case queued
    /// Dropped: the queue is full (the relay is slower than the sender).
    case droppedQueueFull
    /// Dropped: the connection is not (yet) established.
    case droppedNotConnected
    /// Dropped: larger than a relay accepts.
    case droppedTooLarge
}

/// One connection to one DERP relay, non-blocking, driven by its owner's poll loop:
///
/// ```
///  connect ──▶ TLS handshake (or plain) ──▶ GET /derp upgrade ──▶ DERP handshake ──▶ established
///       every failure, a relay that goes silent, or end of stream ──▶ closed (the owner reconnects)
/// ```
///
/// Received frames are parsed in place in the connection's one receive buffer and packets handed
/// to the owner as views into it. Sent packets go straight to the socket when nothing is queued; a
/// relay that does not keep up fills a bounded queue, after which packets are dropped and counted.
/// Not thread-safe: one owner thread calls everything.
public final class DERPConnection {
    public enum Phase: Equatable, Sendable {
        case connecting, tlsHandshake, upgrading, handshaking, established, closed
    }

    /// Counters of one connection.
    public struct Counters: Sendable {
        public var packetsReceived = 0
        public var bytesReceived = 0
        public var packetsSent = 0
        public var bytesSent = 0
        public var droppedQueueFull = 0
        public var droppedNotConnected = 0
    }

    public private(set) var phase: Phase = .connecting
    public private(set) var counters = Counters()
    /// Why the connection closed (once ``phase`` is `.closed`).
    public private(set) var closeReason: String?
    public var session: DERPClientSession { derp }

    private let socket: StreamSocket
    private let security: DERPTransportSecurity
    private let serverName: String
    private var tls: TLSStream?
    private var derp: DERPClientSession
    private let reader = DERPFrameReader()
    private let outbound: OutboundRing
    private var upgradeHead: [UInt8] = []
    private var moreToRead = false
    private var retryHint: Duration?

    /// Most reads per service call, so one busy relay cannot starve the loop (implementation choice).
    static let readBudget = 64
    /// The outbound queue's default size: about 170 full-size WireGuard packets (implementation
    /// choice; tailscale queues 32 packets per relay before dropping).
    public static let defaultQueueCapacity = 256 << 10

    /// Starts connecting to `address` (the relay `node`, reached on `node.port`).
    /// - Throws: ``Errno`` when the socket cannot be created or the connect fails at once.
    public init(node: DERPNode, address: IPAddress, privateKey: PrivateKey, preferred: Bool,
                security: DERPTransportSecurity, queueCapacity: Int = DERPConnection.defaultQueueCapacity,
                timing: DERPClientSession.Timing = .init(), pingSeed: UInt64, now: NetInstant) throws(Errno) {
        let port: UInt16 = (security == .plainHTTP && node.derpPort == nil) ? 80 : node.port
        socket = try StreamSocket(connectingTo: address, port: port)
        self.security = security
        serverName = node.tlsServerName
        derp = DERPClientSession(privateKey: privateKey, preferred: preferred, timing: timing, pingSeed: pingSeed, now: now)
        outbound = OutboundRing(capacity: max(queueCapacity, 4096))
        let request = DERPUpgrade.request(host: node.hostName)
        request.withUnsafeBytes { _ = outbound.append($0) }
    }

    deinit { if phase != .closed { socket.close() } }

    /// The socket to poll.
    public var descriptor: CInt { socket.descriptor }

    /// The events to poll for: always readable, writable while connecting or while bytes wait.
    public var pollEvents: Int16 {
        guard phase != .closed else { return 0 }
        var events = Int16(POLLIN)
        if phase == .connecting || tls?.wantsWrite == true || (!outbound.isEmpty && phase != .tlsHandshake) {
            events |= Int16(POLLOUT)
        }
        return events
    }

    /// When the connection next needs ``service(now:readable:writable:_:)`` without readiness:
    /// its session timers, or now when a read budget ran out with bytes left.
    public func nextDeadline(now: NetInstant) -> NetInstant? {
        guard phase != .closed else { return nil }
        return moreToRead ? now : derp.nextDeadline
    }

    /// Does what readiness and time allow: completes the connect, the TLS and DERP handshakes,
    /// reads and parses frames (reporting each to `deliver`), flushes queued bytes, runs timers.
    public func service(now: NetInstant, readable: Bool, writable: Bool, _ deliver: (DERPConnectionEvent) -> Void) {
        guard phase != .closed else { return }
        do {
            if phase == .connecting {
                guard writable || readable else { try runTimers(now: now); return }
                if let error = socket.connectError() { throw ConnectionFailure("connect to the relay: \(error)") }
                switch security {
                case .plainHTTP:
                    phase = .upgrading
                case .tls(let verify):
                    do { tls = try TLSStream(socket: socket.descriptor, serverName: serverName, verify: verify) } catch {
                        throw ConnectionFailure(error.description)
                    }
                    phase = .tlsHandshake
                }
            }
            if phase == .tlsHandshake, let tls {
                let progress: StreamResult<Void>
                do { progress = try tls.handshake() } catch { throw ConnectionFailure(error.description) }
                guard case .done = progress else { try runTimers(now: now); return }
                phase = .upgrading
            }
            try flush()
            try readAvailable(now: now, deliver)
            try flush()
            try runTimers(now: now)
        } catch let failure as ConnectionFailure {
            close(failure.reason, deliver)
        } catch {
            close("\(error)", deliver)
        }
    }

    /// Sends `packet` to `destination` through the relay: a send-packet frame written at once
    /// when nothing waits, else queued; dropped when the queue is full or the connection is not
    /// established. A partial write queues the rest, so frames never interleave.
    @discardableResult
    public func send(_ packet: UnsafeRawBufferPointer, to destination: PublicKey) -> DERPSendOutcome {
        guard packet.count <= DERPProtocol.maxPacketSize else { return .droppedTooLarge }
        guard phase == .established else {
            counters.droppedNotConnected += 1
            return .droppedNotConnected
        }
        var header = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // 40 bytes, no heap
        return withUnsafeMutableBytes(of: &header) { raw in
            let headerBytes = UnsafeMutableRawBufferPointer(rebasing: raw[0..<DERPFrameWriter.sendPacketHeaderLength])
            DERPFrameWriter.writeSendPacketHeader(to: destination, packetLength: packet.count, into: headerBytes)
            return enqueueFrame(UnsafeRawBufferPointer(headerBytes), packet)
        }
    }

    /// Sends a ping now to measure the relay's latency (reported as a ``DERPConnectionEvent/latency(_:)``).
    public func measureLatency(now: NetInstant) {
        guard let ping = derp.ping(now: now) else { return }
        ping.withUnsafeBytes { _ = outbound.append($0) }
    }

    /// Closes the connection without an event.
    public func close() {
        guard phase != .closed else { return }
        phase = .closed
        closeReason = closeReason ?? "closed by this node"
        tls = nil
        socket.close()
    }

    // MARK: - Internals

    private struct ConnectionFailure: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    private func close(_ reason: String, _ deliver: (DERPConnectionEvent) -> Void) {
        closeReason = reason
        close()
        deliver(.closed(reason: reason, retryAfter: retryHint))
    }

    private func enqueueFrame(_ header: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) -> DERPSendOutcome {
        let frameLength = header.count + body.count
        if outbound.isEmpty {
            // Fast path: straight from the caller's buffer; only an unwritten remainder is copied.
            do {
                let headerWritten = try write(header)
                if headerWritten == header.count {
                    let bodyWritten = try write(body)
                    if bodyWritten == body.count {
                        counters.packetsSent += 1
                        counters.bytesSent += frameLength
                        return .sent
                    }
                    _ = outbound.append(UnsafeRawBufferPointer(rebasing: body[bodyWritten...]))
                } else {
                    _ = outbound.append(UnsafeRawBufferPointer(rebasing: header[headerWritten...]), body)
                }
                counters.packetsSent += 1
                counters.bytesSent += frameLength
                return .queued
            } catch {
                // The failure shows again on the next service call, which closes the connection.
                counters.droppedNotConnected += 1
                return .droppedNotConnected
            }
        }
        guard outbound.append(header, body) else {
            counters.droppedQueueFull += 1
            return .droppedQueueFull
        }
        counters.packetsSent += 1
        counters.bytesSent += frameLength
        return .queued
    }

    /// Writes as much of `bytes` as the socket takes now.
    private func write(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        guard !bytes.isEmpty else { return 0 }
        let result: StreamResult<Int>
        if let tls { result = try tls.write(bytes) } else { result = try socket.write(bytes) }
        if case .done(let n) = result { return n }
        return 0
    }

    private func flush() throws {
        guard phase != .connecting, phase != .tlsHandshake else { return }
        while !outbound.isEmpty {
            let front = outbound.front
            let written = try write(front)
            outbound.consume(written)
            if written < front.count { return }
        }
    }

    private func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        let result: StreamResult<Int>
        if let tls { result = try tls.read(into: buffer) } else { result = try socket.read(into: buffer) }
        switch result {
        case .done(0): throw ConnectionFailure("the relay closed the connection")
        case .done(let n): return n
        case .wouldBlock: return nil
        }
    }

    private func readAvailable(now: NetInstant, _ deliver: (DERPConnectionEvent) -> Void) throws {
        moreToRead = false
        for _ in 0..<Self.readBudget {
            if phase == .upgrading {
                guard try readUpgradeResponse() else { return }
                try parseFrames(now: now, deliver)
                continue
            }
            let space = reader.writableSpace()
            guard let n = try read(into: space) else { return }
            reader.didWrite(n)
            counters.bytesReceived += n
            try parseFrames(now: now, deliver)
        }
        moreToRead = true
    }

    /// Reads the HTTP response head; on `101`, moves the bytes after it into the frame reader.
    /// Returns false when it must wait for more bytes.
    private func readUpgradeResponse() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        guard let n = try chunk.withUnsafeMutableBytes({ try read(into: $0) }) else { return false }
        upgradeHead += chunk[0..<n]
        let response = try upgradeHead.withUnsafeBytes { try DERPUpgrade.parseResponse($0) }
        guard let response else { return true }
        if let key = response.serverKey { derp = derp.expecting(serverKey: key) }
        let rest = upgradeHead[response.headLength...]
        let space = reader.writableSpace()
        space.copyBytes(from: rest)
        reader.didWrite(rest.count)
        upgradeHead = []
        phase = .handshaking
        return true
    }

    private func parseFrames(now: NetInstant, _ deliver: (DERPConnectionEvent) -> Void) throws {
        while let frame = try reader.nextFrame() {
            switch try derp.receive(frame, now: now) {
            case .none:
                break
            case .reply(let bytes):
                bytes.withUnsafeBytes { _ = outbound.append($0) }
            case .established(let info, let reply):
                reply.withUnsafeBytes { _ = outbound.append($0) }
                phase = .established
                deliver(.established(info))
            case .packet(let source, let payload):
                counters.packetsReceived += 1
                deliver(.packet(source: source, payload: UnsafeMutableRawBufferPointer(mutating: payload)))
            case .peerGone(let key, let reason):
                deliver(.peerGone(key, reason: reason))
            case .latency(let rtt):
                deliver(.latency(rtt))
            case .health(let text):
                deliver(.health(text))
            case .restarting(let reconnectIn, _):
                retryHint = reconnectIn
            }
        }
    }

    private func runTimers(now: NetInstant) throws {
        switch derp.poll(now: now) {
        case .none: break
        case .send(let ping)?: ping.withUnsafeBytes { _ = outbound.append($0) }; try flush()
        case .fail(let reason)?: throw ConnectionFailure(reason)
        }
    }
}
