import CWireNetShims
import Glibc

extension UDPTransport {
    /// Wakes the transport's loop thread out of ``UDPTransport/receive(into:timeout:)`` from any
    /// thread: an `eventfd` that the loop waits on together with the socket.
    ///
    /// Hand it to the threads or tasks that queue work for the loop, then call ``wake()`` after
    /// queueing. Wake-ups coalesce: many calls before the loop runs cause one early return.
    public final class Waker: Sendable {
        let descriptor: CInt

        init() throws(Errno) {
            descriptor = try SystemCall.require { wirenet_eventfd() }
        }

        deinit { Glibc.close(descriptor) }

        /// Makes the loop's current or next `receive` return (with ``ReceiveBatch/wasWoken`` set).
        public func wake() {
            var one: UInt64 = 1
            // EAGAIN means the counter is saturated: the loop is already due to wake.
            _ = try? SystemCall.run { Glibc.write(descriptor, &one, 8) }
        }

        /// Clears pending wake-ups (portable backend; the io_uring backend reads via the ring).
        /// Returns true when there was one.
        @discardableResult
        func drain() -> Bool {
            var value: UInt64 = 0
            guard case .done(let count)? = try? SystemCall.run({ read(descriptor, &value, 8) }) else { return false }
            return count == 8
        }
    }
}
