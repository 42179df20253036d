/// Where the result of one socket call goes: the task suspended on it, or a callback.
///
/// Callbacks run on the node's loop thread (or at once on the calling thread when the call cannot
/// start: the node is closed). They let a forwarder carry an idle connection with no task and no
/// async stack of its own; they must return quickly and must not block.
enum CallCompletion<Value: Sendable>: Sendable {
    case task(CheckedContinuation<Value, any Error>)
    case callback(@Sendable (Result<Value, any Error>) -> Void)

    func resume(returning value: Value) {
        switch self {
        case .task(let continuation): continuation.resume(returning: value)
        case .callback(let callback): callback(.success(value))
        }
    }

    func resume(throwing error: any Error) {
        switch self {
        case .task(let continuation): continuation.resume(throwing: error)
        case .callback(let callback): callback(.failure(error))
        }
    }
}

extension CallCompletion where Value == Void {
    func resume() { resume(returning: ()) }
}
