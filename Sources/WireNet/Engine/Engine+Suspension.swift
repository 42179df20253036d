import Locking

/// Where one suspending call stands, as seen by both the loop thread and the task's cancellation
/// handler (which may run first, last, or in between).
private final class SuspendedCall: Sendable {
    enum Stage {
        /// The call has not reached the loop thread yet.
        case starting
        /// The loop thread parked the continuation; `withdraw` takes it back.
        case parked(withdraw: @Sendable (Engine) -> Void)
        /// The task was cancelled; the call must not park (or must withdraw if it already did).
        case cancelled
    }

    let stage = Lock(Stage.starting)

    var isCancelled: Bool {
        stage.withLock { stage in
            if case .cancelled = stage { return true } else { return false }
        }
    }
}

extension Engine {
    /// Suspends the calling task on one operation of the loop thread: `begin` runs there with the
    /// task's continuation and either resumes it at once (returning nil) or parks it and returns how to
    /// withdraw it. The one place where socket calls meet task cancellation, so that no cancellation is
    /// lost:
    ///
    /// - a task already cancelled throws `CancellationError` without reaching the loop;
    /// - cancelled before `begin` runs: `begin` never runs and the call throws `CancellationError`;
    /// - cancelled after `begin` parked: the withdraw closure runs on the loop thread. It must resume a
    ///   still-parked continuation (with `CancellationError`, or the error the call documents) and do
    ///   nothing when the operation already completed.
    ///
    /// `needsWake` is ``perform(_:wakeIf:)``'s: whether the loop thread must wake for `begin` (a read
    /// with nothing buffered need not). Cancellation always wakes it — also a cancellation that lands
    /// between the check above and the handler's installation: the handler then runs first, before
    /// `begin` is queued, and its wake-up may be spent already, so the call wakes the loop itself.
    ///
    /// Throws ``NodeError/closed`` when the engine has stopped (its backend then fails every parked call).
    func suspend<Value: Sendable>(
        wakeIf needsWake: () -> Bool = { true },
        _ begin: @escaping @Sendable (Engine, CheckedContinuation<Value, any Error>) -> (@Sendable (Engine) -> Void)?
    ) async throws -> Value {
        try Task.checkCancellation()
        let call = SuspendedCall()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let accepted = perform({ engine in
                    if call.isCancelled { return continuation.resume(throwing: CancellationError()) }
                    guard let withdraw = begin(engine, continuation) else { return }
                    let cancelledDuring = call.stage.withLock { stage -> Bool in
                        if case .cancelled = stage { return true }
                        stage = .parked(withdraw: withdraw)
                        return false
                    }
                    if cancelledDuring { withdraw(engine) }
                }, wakeIf: { needsWake() || call.isCancelled })
                if !accepted { continuation.resume(throwing: NodeError.closed) }
            }
        } onCancel: {
            let withdraw = call.stage.withLock { stage -> (@Sendable (Engine) -> Void)? in
                defer { stage = .cancelled }
                if case .parked(let withdraw) = stage { return withdraw }
                return nil
            }
            // Not parked yet: `begin` may sit in the inbox of a loop that was not woken for it
            // (`needsWake`); wake the loop so that it runs and sees the cancellation now.
            perform(withdraw ?? { _ in })
        }
    }
}
