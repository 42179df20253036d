import CWireNetShims
import Glibc

extension UDPTransport {
    /// Lets the kernel drop all but one in `oneIn` WireGuard handshake initiations and responses
    /// (message types 1 and 2, chosen at random) before they are queued to the socket; nil lets
    /// everything through again.
    ///
    /// A classic BPF socket filter (`SO_ATTACH_FILTER`): transport data, cookie replies and any
    /// other datagram always pass. Under a handshake flood this keeps most of the flood from
    /// costing the engine a receive and a look at each datagram; the device's own bound on the
    /// handshake messages it examines (`handshakeMessagesPerSecondUnderLoad`) still applies to what
    /// passes. Setting a new `oneIn` replaces the filter in one step.
    ///
    /// - Parameter oneIn: 2 or more, or nil to remove the filter.
    /// - Throws: ``Errno`` when the kernel refuses the filter (`EINVAL` for `oneIn` below 2,
    ///   `EBADF` after ``close()``).
    public func sampleHandshakes(oneIn: UInt32?) throws(Errno) {
        guard let descriptor = core?.socket.descriptor else { throw Errno(rawValue: EBADF) }
        let result: CInt
        if let oneIn {
            result = wirenet_attach_handshake_sampling(descriptor, oneIn)
        } else {
            result = wirenet_detach_socket_filter(descriptor)
            // Nothing attached is what was asked for.
            if result == -ENOENT { return }
        }
        if result < 0 { throw Errno(rawValue: -result) }
    }
}
