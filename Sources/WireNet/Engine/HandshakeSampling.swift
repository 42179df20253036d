import Wire

/// When the engine asks the kernel to sample handshake messages on its UDP socket, and how
/// sparsely (``UDPTransport/sampleHandshakes(oneIn:)``): a state machine that returns actions.
///
/// Under a handshake flood the device examines at most its budget of handshake messages a second
/// (`handshakeMessagesPerSecondUnderLoad`) and drops the rest after the type and length check; but
/// every dropped datagram has still cost the one engine thread a receive and a look. Sampling in the
/// kernel drops about as many before they reach the socket, so the engine sees roughly its budget:
/// a legitimate handshake message is let through with probability about `1 / oneIn`, close to the
/// `budget / rate` with which the device alone would have examined it.
///
/// The engine notes every handshake message (initiation or response) it receives and calls
/// ``review(now:)`` every loop turn. Once a second the policy estimates the offered rate (messages
/// seen times the sampling factor, per second) and
/// - attaches the filter when the rate exceeds twice the budget, with `oneIn = ⌈rate / budget⌉`;
/// - replaces it when the factor it would choose differs by 2× or more from the one in place;
/// - removes it after two reviews in a row below the device's load threshold (the flood ended).
///
/// Sans-IO: time comes in as `now`.
struct HandshakeSampling {
    /// What the policy asks of the socket.
    enum Action: Equatable {
        /// Let one in `oneIn` handshake messages through (attach or replace the filter).
        case sample(oneIn: UInt32)
        /// Let every handshake message through (stop sampling; the rest of the socket's filter,
        /// which drops foreign datagrams, stays).
        case passAll
    }

    /// How often the offered rate is estimated.
    static let reviewInterval = Duration.seconds(1)
    /// Reviews in a row below ``detachBelow`` before the filter goes.
    static let quietReviewsToDetach = 2
    /// The sparsest sampling asked for.
    static let maximumOneIn: UInt32 = 1 << 16

    /// Handshake messages a second the engine aims to receive while sampling (the device's budget).
    let target: Int
    /// The estimated rate above which sampling starts (twice ``target``).
    let attachAbove: Int
    /// The estimated rate below which sampling may stop (the device's load threshold).
    let detachBelow: Int

    /// The sampling factor in place, nil when the filter is not attached.
    private(set) var oneIn: UInt32?
    private var seen = 0
    private var reviewStart: NetInstant?
    private var quietReviews = 0

    /// A policy aiming at `budget` handshake messages a second, stopping below `loadThreshold`.
    /// A `budget` of 0 or less (the device examines everything) disables sampling.
    init(budget: Int, loadThreshold: Int) {
        target = budget
        attachAbove = budget > 0 ? budget.multipliedReportingOverflow(by: 2).partialValue : Int.max
        detachBelow = max(1, min(loadThreshold, budget))
    }

    /// Counts `count` handshake messages received (those the filter let through).
    mutating func note(handshakeMessages count: Int) {
        seen &+= count
    }

    /// Whether the message in `bytes` is one the filter samples: an initiation or a response, whose
    /// little-endian type word is 1 or 2 (the filter compares the whole word, so a STUN binding
    /// response, 0x01 0x01 …, is neither).
    static func isSampled(_ bytes: UnsafeMutableRawBufferPointer) -> Bool {
        guard bytes.count >= 4, bytes[1] == 0, bytes[2] == 0, bytes[3] == 0 else { return false }
        return bytes[0] == 1 || bytes[0] == 2
    }

    /// Once per ``reviewInterval``: what to change, or nil.
    mutating func review(now: NetInstant) -> Action? {
        guard target > 0 else { return nil }
        guard let start = reviewStart else {
            reviewStart = now
            return nil
        }
        let elapsed = now.since(start)
        guard elapsed >= Self.reviewInterval else { return nil }
        let nanoseconds = Double(elapsed.saturatedNanoseconds)
        let rate = Double(seen) * Double(oneIn ?? 1) * 1e9 / nanoseconds
        seen = 0
        reviewStart = now

        guard let current = oneIn else {
            guard rate > Double(attachAbove) else { return nil }
            let chosen = factor(for: rate)
            oneIn = chosen
            quietReviews = 0
            return .sample(oneIn: chosen)
        }
        if rate < Double(detachBelow) {
            quietReviews += 1
            guard quietReviews >= Self.quietReviewsToDetach else { return nil }
            oneIn = nil
            quietReviews = 0
            return .passAll
        }
        quietReviews = 0
        let chosen = factor(for: rate)
        guard chosen >= current * 2 || chosen * 2 <= current else { return nil }
        oneIn = chosen
        return .sample(oneIn: chosen)
    }

    /// Forgets the filter (it could not be attached, or the socket is gone): no sampling in place.
    mutating func reset() {
        oneIn = nil
        quietReviews = 0
    }

    /// ⌈rate / target⌉, at least 2 and at most ``maximumOneIn``.
    private func factor(for rate: Double) -> UInt32 {
        let wanted = (rate / Double(target)).rounded(.up)
        return UInt32(min(Double(Self.maximumOneIn), max(2, wanted)))
    }
}
