import Wire

/// HyStart++ (RFC 9406): ends the initial slow start when the round-trip time starts to grow (a queue is
/// building), before the doubling window overflows a deep buffer and loses half a window.
///
/// Per round (one window of data, tracked by SND.NXT at its start) it keeps the smallest RTT sample;
/// when a round's minimum exceeds the previous round's by RttThresh, slow start turns into Conservative
/// Slow Start (window growth divided by `CSS_GROWTH_DIVISOR`) for `CSS_ROUNDS` rounds and then ends
/// (ssthresh = cwnd), unless the RTT falls back below the baseline (a spurious exit: slow start resumes).
/// Only the initial slow start uses it (RFC 9406 §4.3): a loss or a timeout ends it for good.
struct HyStartPlusPlus: Hashable {
    /// RFC 9406 §4.3: MIN_RTT_THRESH = 4 ms, MAX_RTT_THRESH = 16 ms, MIN_RTT_DIVISOR = 8.
    static let minimumRTTThreshold: Int64 = 4_000_000
    static let maximumRTTThreshold: Int64 = 16_000_000
    static let minimumRTTDivisor: Int64 = 8
    /// RFC 9406 §4.3: N_RTT_SAMPLE = 8.
    static let samplesPerRound = 8
    /// RFC 9406 §4.3: CSS_GROWTH_DIVISOR = 4, CSS_ROUNDS = 5.
    static let conservativeGrowthDivisor = 4
    static let conservativeRounds = 5

    enum Phase: Hashable {
        case slowStart
        /// Conservative Slow Start since the RTT grew to `baseline`; `rounds` rounds completed in it.
        case conservative(baseline: Int64, rounds: Int)
        /// Slow start ended (by HyStart++, a loss or a timeout): nothing more to do.
        case done
    }

    /// What the sender does with an ACK in slow start.
    enum Growth: Equatable {
        /// Standard slow start: cwnd += acked.
        case standard
        /// Conservative Slow Start: cwnd += acked / CSS_GROWTH_DIVISOR.
        case conservative
        /// Leave slow start now: ssthresh = cwnd.
        case exit
    }

    private(set) var phase = Phase.slowStart
    private var windowEnd: SequenceNumber? = nil
    private var lastRoundMinRTT = Int64.max
    private var currentRoundMinRTT = Int64.max
    private var samples = 0
    /// Slow starts ended by HyStart++ (for tests and statistics).
    private(set) var exits = 0

    /// An ACK up to `ack` arrived in slow start with SND.NXT at `sndNxt` and `rttSample` (nil: none).
    mutating func onAck(ack: SequenceNumber, sndNxt: SequenceNumber, rttSample: Int64?) -> Growth {
        if phase == .done { return .standard }
        // RFC 9406 §4.2: a new round begins when the ACK covers the end of the last one.
        if windowEnd.map({ ack >= $0 }) ?? true {
            lastRoundMinRTT = currentRoundMinRTT
            currentRoundMinRTT = .max
            samples = 0
            windowEnd = sndNxt
            if case .conservative(let baseline, let rounds) = phase {
                if rounds + 1 >= Self.conservativeRounds {
                    phase = .done
                    exits += 1
                    return .exit
                }
                phase = .conservative(baseline: baseline, rounds: rounds + 1)
            }
        }
        if let rtt = rttSample {
            currentRoundMinRTT = Swift.min(currentRoundMinRTT, rtt)
            samples += 1
        }
        let roundComplete = samples >= Self.samplesPerRound && currentRoundMinRTT != .max
        switch phase {
        case .slowStart:
            guard roundComplete, lastRoundMinRTT != .max else { return .standard }
            let threshold = Swift.max(
                Self.minimumRTTThreshold, Swift.min(lastRoundMinRTT / Self.minimumRTTDivisor, Self.maximumRTTThreshold))
            guard currentRoundMinRTT >= lastRoundMinRTT + threshold else { return .standard }
            phase = .conservative(baseline: currentRoundMinRTT, rounds: 0)
            return .conservative
        case .conservative(let baseline, _):
            // RFC 9406 §4.2: the RTT came back below the baseline: the exit was spurious.
            if roundComplete && currentRoundMinRTT < baseline {
                phase = .slowStart
                return .standard
            }
            return .conservative
        case .done:
            return .standard
        }
    }

    /// A loss or a timeout: slow start is over for good (RFC 9406 §4.3).
    mutating func stop() { phase = .done }
}
