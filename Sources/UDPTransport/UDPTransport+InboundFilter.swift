import CWireNetShims
import Glibc

extension UDPTransport {
    /// Asks the kernel to drop datagrams before they are queued to the socket, as `filter` says
    /// (``InboundFilter``); ``InboundFilter/passAll`` removes the filter. Replaces the filter in
    /// place in one step (no datagram passes unfiltered meanwhile). Handshake messages are matched
    /// by their exact sizes unless the socket has UDP GRO (``receiveCoalescing``).
    ///
    /// - Throws: ``Errno`` when the kernel refuses the filter (`EINVAL` for a sampling factor below
    ///   2, `EBADF` after ``close()``); ``inboundFilter`` is then unchanged.
    public func setInboundFilter(_ filter: InboundFilter) throws(Errno) {
        guard let descriptor = core?.socket.descriptor else { throw Errno(rawValue: EBADF) }
        if let oneIn = filter.handshakeSampling, oneIn < 2 { throw Errno(rawValue: EINVAL) }
        let result: CInt
        if filter == .passAll {
            result = wirenet_detach_socket_filter(descriptor)
        } else {
            result = wirenet_attach_inbound_filter(descriptor, filter.dropsForeignDatagrams, !receiveCoalescing,
                                                   filter.handshakeSampling ?? 0)
        }
        // Nothing attached is what was asked for.
        if result < 0, !(filter == .passAll && result == -ENOENT) { throw Errno(rawValue: -result) }
        inboundFilter = filter
    }

    /// Lets the kernel drop all but one in `oneIn` WireGuard handshake initiations and responses
    /// (message types 1 and 2, chosen at random) before they are queued to the socket; nil lets
    /// them all through again. The rest of ``inboundFilter`` stays as it is.
    ///
    /// Under a handshake flood this keeps most of the flood from costing the engine a receive and
    /// a look at each datagram; the device's own bound on the handshake messages it examines
    /// (`handshakeMessagesPerSecondUnderLoad`) still applies to what passes. Setting a new `oneIn`
    /// replaces the filter in one step.
    ///
    /// - Parameter oneIn: 2 or more, or nil to stop sampling.
    /// - Throws: ``Errno`` when the kernel refuses the filter (`EINVAL` for `oneIn` below 2,
    ///   `EBADF` after ``close()``).
    public func sampleHandshakes(oneIn: UInt32?) throws(Errno) {
        var filter = inboundFilter
        filter.handshakeSampling = oneIn
        try setInboundFilter(filter)
    }
}
