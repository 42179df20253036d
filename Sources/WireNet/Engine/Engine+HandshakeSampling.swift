import UDPTransport
import Wire

extension Engine {
    /// Once a second, lets ``HandshakeSampling`` decide whether the kernel should sample handshake
    /// messages on the UDP socket, and applies its decision. If the kernel refuses the filter
    /// (seccomp, an old kernel), sampling stays off for this engine and the device's budget alone
    /// bounds a flood.
    func reviewHandshakeSampling(now: NetInstant) {
        guard let action = handshakeSampling.review(now: now) else { return }
        do {
            switch action {
            case .sample(let oneIn):
                try transport.sampleHandshakes(oneIn: oneIn)
                logger.info("handshake flood: the kernel lets one in \(oneIn) handshake messages through")
            case .passAll:
                try transport.sampleHandshakes(oneIn: nil)
                logger.info("handshake flood over: every handshake message reaches the node again")
            }
        } catch {
            try? transport.sampleHandshakes(oneIn: nil)
            handshakeSampling = HandshakeSampling(budget: 0, loadThreshold: 0)
            logger.warning("handshake sampling in the kernel refused; the device's budget alone bounds floods",
                           metadata: ["error": "\(error)"])
        }
    }
}
