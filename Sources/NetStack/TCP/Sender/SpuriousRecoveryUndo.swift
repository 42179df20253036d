import Wire

/// Undo of loss recoveries that D-SACKs prove spurious (RFC 2883 §5, RFC 3708 §3), one record per
/// episode (a fast recovery or a retransmission timeout) that may still be proven so.
///
/// With reordering longer than a round trip, an episode's D-SACKs (the late originals, reported as
/// duplicates) arrive after later episodes have begun. A single "state before the episode" then held
/// the window of the previous, equally spurious, episode, and each undo restored a window already
/// reduced: the window fell by β per reordered segment. Here every episode keeps its own record; a
/// proven episode that is the latest restores the congestion state from before it, an older one undoes
/// its own reduction by the factor it applied (what the later episodes did stays theirs).
struct SpuriousRecoveryUndo {
    /// Episodes kept at most: older ones are forgotten (their D-SACKs would come too late to matter).
    static let maximumEpisodes = 8

    struct Episode {
        /// SND.UNA when the episode began: D-SACKs below it belong to earlier episodes (RFC 2883 §5).
        var start: SequenceNumber
        /// SND.MAX when it began: its retransmissions all lie below.
        var end: SequenceNumber
        /// The congestion state before the episode.
        var before: CongestionController
        /// The congestion window the episode reduced to.
        var windowAfter: Int
        /// Bytes retransmitted in the episode.
        var retransmitted = 0
        /// Bytes of them reported as duplicates.
        var duplicateSacked = 0
        /// A retransmission timeout began it (not a fast recovery).
        var fromTimeout: Bool

        var isSpurious: Bool { retransmitted > 0 && duplicateSacked >= retransmitted }
        /// By how much the episode divided the window.
        var reduction: Double { windowAfter > 0 ? Swift.max(1, Double(before.cwnd) / Double(windowAfter)) : 1 }
    }

    private(set) var episodes: [Episode] = []
    /// Episodes undone (for tests and statistics).
    private(set) var undone = 0

    /// Storage is reserved at the first episode, not at creation: an idle connection that never
    /// recovered from a loss holds none (an episode carries a whole `CongestionController`, so eight of
    /// them reserved up front were about 2 KiB per connection).
    init() {}

    /// An episode begins: `before` is the state it is about to reduce.
    mutating func begin(una: SequenceNumber, sndMax: SequenceNumber, before: CongestionController, fromTimeout: Bool) {
        if episodes.capacity == 0 { episodes.reserveCapacity(Self.maximumEpisodes) }
        if episodes.count == Self.maximumEpisodes { episodes.removeFirst() }
        episodes.append(Episode(start: una, end: sndMax, before: before, windowAfter: before.cwnd, fromTimeout: fromTimeout))
    }

    /// The latest episode reduced the window to `cwnd`.
    mutating func reduced(to cwnd: Int) {
        guard !episodes.isEmpty else { return }
        episodes[episodes.count - 1].windowAfter = cwnd
    }

    /// `[seq, seq + length)` was retransmitted: counted for the latest episode it lies in.
    mutating func retransmitted(seq: SequenceNumber, length: Int) {
        guard let i = episodes.lastIndex(where: { $0.start <= seq && seq < $0.end }) else { return }
        episodes[i].retransmitted += Swift.max(length, 1)
    }

    /// A D-SACK reported `[left, right)`; returns whether it lies in an episode (a retransmission of it
    /// was unnecessary).
    @discardableResult
    mutating func duplicateSacked(left: SequenceNumber, right: SequenceNumber) -> Bool {
        guard let i = episodes.lastIndex(where: { $0.start <= left && right <= $0.end }),
            episodes[i].retransmitted > 0
        else { return false }
        episodes[i].duplicateSacked += right - left
        return true
    }

    /// Removes and returns the latest episode (F-RTO, RFC 5682, found its timeout spurious).
    mutating func takeLatest() -> Episode? {
        guard let episode = episodes.popLast() else { return nil }
        undone += 1
        return episode
    }

    /// Removes and returns an episode that every retransmission of was reported duplicate, and whether
    /// it was the latest. The later episodes' "before" states carry its reduction: it is undone there too
    /// (an ended slow start included), so that undoing them later restores the state without it. The
    /// current state only gets its window back: episodes since may have been real.
    mutating func takeSpurious() -> (episode: Episode, isLatest: Bool)? {
        guard let i = episodes.firstIndex(where: \.isSpurious) else { return nil }
        let episode = episodes.remove(at: i)
        for j in i..<episodes.count {
            episodes[j].before.undoReduction(factor: episode.reduction, upTo: episode.before, restoringSlowStart: true)
            // Clamped: Double(Int.max) rounds up past Int.max.
            episodes[j].windowAfter = Int(Swift.min(Double(episodes[j].windowAfter) * episode.reduction, Double(Int.max / 2)))
        }
        undone += 1
        return (episode, i == episodes.count)
    }
}
