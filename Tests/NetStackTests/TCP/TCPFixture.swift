import Testing
@testable import NetStack
import Wire

/// Our ISS and the peer's in every fixture.
let localISS = SequenceNumber(1000)
let remoteISS = SequenceNumber(5000)

/// A configuration without window scaling, timestamps or SACK, and without the initial quick ACKs, so
/// fixture segments stay short and exact and delayed ACKs apply from the first segment. The SACK, ACK
/// policy and congestion-control suites turn these on.
func fixtureConfiguration(
    buffer: Int = 8192, mss: Int = 1000, timestamps: Bool = false, windowScaling: Bool = false,
    sack: Bool = false, quickAcks: Int = 0, congestionControl: TCPCongestionControlAlgorithm = .newReno
) -> TCPConfiguration {
    var c = TCPConfiguration()
    c.windowScaling = windowScaling
    c.timestamps = timestamps
    c.selectiveAcknowledgments = sack
    c.quickAcks = quickAcks
    c.congestionControl = congestionControl
    c.receiveBufferSize = buffer
    c.sendBufferSize = buffer
    c.maxSegmentSize = mss
    c.timeWaitDuration = .seconds(2)
    c.finWait2Timeout = .seconds(5)
    c.maxRetransmissions = 4
    c.maxSynRetransmissions = 3
    return c
}

/// Shorthand for an expected or injected segment.
func seg(
    _ seq: SequenceNumber, ack: SequenceNumber? = nil, _ control: TCPControlBits, wnd: UInt16 = 8192,
    len: Int = 0
) -> TCPSegmentHeader {
    var c = control
    if ack != nil { c.insert(.ack) }
    return TCPSegmentHeader(seq: seq, ack: ack ?? SequenceNumber(0), control: c, window: wnd, payloadLength: len)
}

func bytes(_ count: Int, from start: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: ($0 + start) &* 7 &+ 3) }
}

/// One connection driven by hand: feed segments or time, collect everything it sends back.
final class TCPFixture {
    var connection: TCPConnection
    var now = NetInstant.zero
    /// Events reported by the last call.
    var events: TCPConnectionEvents = []
    /// Payload bytes of the segments returned by the last call, concatenated.
    var sentPayload: [UInt8] = []

    init(_ connection: TCPConnection) { self.connection = connection }

    var state: TCPState { connection.state }

    func drain() -> [TCPSegmentHeader] {
        var out: [TCPSegmentHeader] = []
        sentPayload = []
        while let segment = connection.nextSegment(now: now) {
            out.append(segment)
            if segment.payloadLength > 0 {
                var buffer = [UInt8](repeating: 0, count: segment.payloadLength)
                let copied = buffer.withUnsafeMutableBytes { connection.copyPayload(of: segment, into: $0) }
                #expect(copied == segment.payloadLength)
                sentPayload += buffer
            }
            if out.count > 10_000 { Issue.record("connection never stops sending"); break }
        }
        return out
    }

    /// Delivers a segment (its payloadLength is set from `payload`) and returns the replies.
    func receive(_ segment: TCPSegmentHeader, payload: [UInt8] = []) -> [TCPSegmentHeader] {
        var segment = segment
        segment.payloadLength = payload.count
        events = payload.withUnsafeBytes { connection.handle(segment, payload: $0, now: now) }
        return drain()
    }

    /// Advances the clock, runs due timers and returns what is sent.
    func advance(_ duration: Duration) -> [TCPSegmentHeader] {
        now = now + duration
        events = connection.handleTimers(now: now)
        return drain()
    }

    /// Advances to the connection's next deadline.
    func advanceToDeadline() -> [TCPSegmentHeader] {
        guard let deadline = connection.nextDeadline else { return [] }
        now = deadline
        events = connection.handleTimers(now: now)
        return drain()
    }

    func write(_ data: [UInt8]) -> Int {
        data.withUnsafeBytes { connection.write($0) }
    }

    func read(max: Int = 1 << 20) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { connection.read(into: $0) }
        return Array(buffer.prefix(n))
    }

    /// SYN-SENT: an active open whose SYN has been sent.
    static func synSent(_ config: TCPConfiguration = fixtureConfiguration()) -> TCPFixture {
        let f = TCPFixture(TCPConnection(activeOpenWith: config, iss: localISS, now: .zero))
        _ = f.drain()
        return f
    }

    /// SYN-RECEIVED: a passive open whose SYN,ACK has been sent.
    static func synReceived(_ config: TCPConfiguration = fixtureConfiguration(), syn: TCPSegmentHeader? = nil)
        -> TCPFixture
    {
        var synSegment = syn ?? seg(remoteISS, .syn, wnd: 8192)
        if syn == nil { synSegment.maxSegmentSize = 1000 }
        let f = TCPFixture(
            TCPConnection(passiveOpenFrom: synSegment, configuration: config, iss: localISS, now: .zero)!)
        _ = f.drain()
        return f
    }

    /// ESTABLISHED via an active open (our next seq 1001, the peer's 5001, peer window 8192).
    static func established(_ config: TCPConfiguration = fixtureConfiguration()) -> TCPFixture {
        let f = synSent(config)
        var synAck = seg(remoteISS, ack: localISS + 1, .syn, wnd: 8192)
        synAck.maxSegmentSize = 1000
        _ = f.receive(synAck)
        #expect(f.state == .established)
        return f
    }
}
