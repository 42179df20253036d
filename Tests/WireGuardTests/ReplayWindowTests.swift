import Testing
@testable import WireGuard

@Suite struct ReplayWindowTests {
    @Test func acceptsEachCounterOnceInOrder() {
        let window = ReplayWindow()
        for counter in UInt64(0)..<1000 { #expect(window.accept(counter)) }
        #expect(!window.accept(999))
        #expect(!window.accept(0))
    }

    @Test func acceptsReorderedCountersWithinTheWindowAndRejectsDuplicates() {
        let window = ReplayWindow()
        #expect(window.accept(100))
        #expect(window.accept(50))
        #expect(window.accept(99))
        #expect(!window.accept(50))
        #expect(window.accept(0))
        #expect(window.accept(101))
        #expect(!window.accept(100))
    }

    @Test func rejectsCountersOlderThanTheWindow() {
        let window = ReplayWindow()
        let top = ReplayWindow.windowSize + 500
        #expect(window.accept(top))
        #expect(window.accept(top - ReplayWindow.windowSize))
        #expect(!window.accept(top - ReplayWindow.windowSize - 1))
        #expect(!window.wouldAccept(3))
    }

    @Test func largeJumpForgetsTheOldWindowButNotTheNewCounter() {
        let window = ReplayWindow()
        for counter in UInt64(0)..<200 { _ = window.accept(counter) }
        #expect(window.accept(1_000_000))
        #expect(!window.accept(1_000_000))
        #expect(window.accept(1_000_000 - 64))
        #expect(window.accept(999_999))
    }

    @Test func wouldAcceptDoesNotRecord() {
        let window = ReplayWindow()
        #expect(window.wouldAccept(7))
        #expect(window.wouldAccept(7))
        #expect(window.accept(7))
        #expect(!window.wouldAccept(7))
    }

    @Test func rejectsCountersAtOrAboveRejectAfterMessages() {
        let window = ReplayWindow()
        #expect(!window.accept(ProtocolConstants.rejectAfterMessages))
        #expect(!window.accept(UInt64.max))
        #expect(window.accept(ProtocolConstants.rejectAfterMessages - 1))
    }

    @Test func bitsOfBlocksReusedAcrossTheRingAreCleared() {
        let window = ReplayWindow()
        // Walk well past the ring size several times, accepting every third counter.
        var counter: UInt64 = 0
        while counter < 40_000 {
            #expect(window.accept(counter))
            counter += 3
        }
        // Counters skipped inside the window are still acceptable once.
        #expect(window.accept(counter - 3 - 1))
        #expect(!window.accept(counter - 3 - 1))
    }
}
