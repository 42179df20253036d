/// Completions the loop holds back until the packets of its turn are handed to the transport.
///
/// Resuming a continuation hands its task to the executor, which wakes one of its threads (a futex
/// wake-up, a system call); a forwarder's callback queues its next call. A completion that only tells its caller to go on — a write whose bytes
/// are all in the send buffer, a forwarded read whose bytes are all in the host socket — has nothing
/// the peer waits for, while the segment it produced does: made before the segment is sealed and
/// sent, that wake-up sat on every forwarded round trip (issue #13). The engine calls
/// ``UserspaceStack/finishTurn()`` right after its send, which resumes these in the order they were
/// held. Loop thread only.
struct DeferredResumptions {
    enum Resumption {
        /// A write whose bytes are all in the send buffer.
        case wrote(CallCompletion<Void>)
        /// A read whose consumer took every byte: the caller gets an empty chunk, not the end.
        case forwarded(CallCompletion<[UInt8]?>)
    }

    private var held: [Resumption] = []

    var count: Int { held.count }

    mutating func append(_ resumption: Resumption) {
        held.append(resumption)
    }

    /// Resumes every held completion, in order, and keeps the storage for the next turn.
    mutating func resumeAll() {
        guard !held.isEmpty else { return }
        for resumption in held {
            switch resumption {
            case .wrote(let continuation): continuation.resume()
            case .forwarded(let continuation): continuation.resume(returning: [])
            }
        }
        held.removeAll(keepingCapacity: true)
    }
}
