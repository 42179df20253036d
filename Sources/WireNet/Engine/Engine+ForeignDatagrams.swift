import UDPTransport

extension Engine {
    /// Has the kernel drop, from the socket's start on, every datagram that no receiver of the
    /// engine's socket accepts: anything but WireGuard messages of a possible length, disco and
    /// STUN (``UDPTransport/InboundFilter/dropsForeignDatagrams``). The device would drop each such
    /// datagram after its type and length check; the kernel's filter spares the engine thread the
    /// receive and the look, which is what a garbage flood costs. Always on, not engaged under load
    /// like ``HandshakeSampling``: it drops only what the engine would drop anyway, at a few BPF
    /// instructions per datagram, so there is nothing to detect first. If the kernel refuses the
    /// filter (seccomp, no BPF), the engine logs a warning and drops such datagrams itself.
    ///
    /// A receiver added for a new kind of datagram on this socket must be added to the filter too
    /// (`wirenet_attach_inbound_filter` in CWireNetShims).
    func dropForeignDatagrams() {
        do {
            try transport.setInboundFilter(UDPTransport.InboundFilter(dropsForeignDatagrams: true))
        } catch {
            logger.warning("the kernel refused the socket filter; datagrams that are not WireGuard, disco or STUN reach the engine, which drops them",
                           metadata: ["error": "\(error)"])
        }
    }
}
