import Testing
@testable import WireNet

/// The loop's wait when it also polls other descriptors (a kernel TUN device, a tailnet node's relay
/// sockets): to the nanosecond, never before the deadline. It used to be poll()'s milliseconds,
/// rounded up, so a 100 µs timer fired after 1 ms.
struct EngineTimerRoundingTests {
    @Test func subMillisecondDeadlinesKeepTheirLength() {
        #expect(Engine.pollTimeoutNanoseconds(.microseconds(100)) == 100_000)
        #expect(Engine.pollTimeoutNanoseconds(.microseconds(1_250)) == 1_250_000)
        #expect(Engine.pollTimeoutNanoseconds(.seconds(2)) == 2_000_000_000)
    }

    @Test func fractionsOfANanosecondRoundUpSoTheLoopNeverWakesEarly() {
        #expect(Engine.pollTimeoutNanoseconds(.nanoseconds(1) + .init(secondsComponent: 0, attosecondsComponent: 1)) == 2)
        #expect(Engine.pollTimeoutNanoseconds(.init(secondsComponent: 0, attosecondsComponent: 1)) == 1)
    }

    @Test func zeroNegativeAndUnboundedWaits() {
        #expect(Engine.pollTimeoutNanoseconds(.zero) == 0)
        #expect(Engine.pollTimeoutNanoseconds(.milliseconds(-3)) == 0)
        #expect(Engine.pollTimeoutNanoseconds(nil) == -1)
        #expect(Engine.pollTimeoutNanoseconds(.seconds(Int64.max)) == Int64.max)
    }
}
