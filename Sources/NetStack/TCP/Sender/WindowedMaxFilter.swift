/// The largest value seen over a sliding window of "time" (round trips, for BBR's bottleneck
/// bandwidth), kept as the best, second-best and third-best samples of sub-windows — Kathleen
/// Nichols' algorithm as Linux's `lib/win_minmax.c` implements it: constant space, and
/// a sample that stays best past the window is replaced by the best of the later ones.
struct WindowedMaxFilter: Hashable {
    struct Sample: Hashable {
        var time: Int64
        var value: Double
    }

    /// The window's length, in the caller's time unit.
    let window: Int64
    // Three stored samples, not an array: the filter lives inside an enum payload that is copied
    // and written back per ACK, and an array there would be copied (allocated) on every write.
    private var first = Sample(time: 0, value: 0)
    private var second = Sample(time: 0, value: 0)
    private var third = Sample(time: 0, value: 0)

    init(window: Int64) { self.window = window }

    /// The windowed maximum (0 before the first sample).
    var best: Double { first.value }

    /// Forgets every sample and starts again from `value` at `time`.
    mutating func reset(time: Int64, value: Double) {
        let s = Sample(time: time, value: value)
        first = s
        second = s
        third = s
    }

    /// Feeds `value` measured at `time` (non-decreasing) and returns the windowed maximum.
    @discardableResult
    mutating func update(time: Int64, value: Double) -> Double {
        let s = Sample(time: time, value: value)
        // A new maximum, or nothing left in the window: start over from this sample.
        if value >= first.value || time - third.time > window {
            reset(time: time, value: value)
            return best
        }
        if value >= second.value {
            second = s
            third = s
        } else if value >= third.value {
            third = s
        }
        return subwindowUpdate(s)
    }

    /// `win_minmax`'s sub-window rule: the best sample expires after a window and the next ones move
    /// up; second and third are refreshed once a quarter and a half window have passed without them.
    private mutating func subwindowUpdate(_ s: Sample) -> Double {
        let elapsed = s.time - first.time
        if elapsed > window {
            first = second
            second = third
            third = s
            if s.time - first.time > window {
                first = second
                second = third
                third = s
            }
        } else if second.time == first.time && elapsed > window / 4 {
            second = s
            third = s
        } else if third.time == second.time && elapsed > window / 2 {
            third = s
        }
        return best
    }
}
