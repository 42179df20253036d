/// A ``TCPStream`` is an `AsyncSequence` of the chunks it receives: each element is what one
/// ``TCPStream/read(maximumLength:)`` returned (at most ``TCPStream/defaultReadLength`` bytes, never
/// empty), and the sequence ends when the peer closes its side.
///
/// ```swift
/// var hasher = SHA256()
/// for try await chunk in stream { hasher.update(data: chunk) }
/// ```
///
/// Iterating reads: the stream has one byte order, so two iterations (or an iteration and direct
/// `read` calls) at once split the bytes between them. Errors end the iteration as `read` throws
/// them (``NodeError`` or `CancellationError`).
extension TCPStream: AsyncSequence {
    public typealias Element = [UInt8]

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: TCPStream

        public mutating func next() async throws -> [UInt8]? {
            try await stream.read()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}
