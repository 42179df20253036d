#if canImport(Glibc)
import Glibc
#endif
import Relay
import RelayTransport
import UDPTransport
import Wire
import WireGuard

// The engine's side of peer paths: every datagram WireGuard addresses goes through `dispatch`,
// which sends it over UDP or through a DERP relay; relay connections are polled with the UDP socket
// and their packets go to WireGuard from the relay's receive buffer, without a copy.
//
//  WireGuard ─datagram to handle─▶ dispatch ─┬─ direct ──▶ UDP send batch
//                                            └─ relayed ─▶ DERP connection (bounded queue)
//  DERP frame ─▶ disco? ─yes─▶ PathDiscovery ─▶ pongs, pings
//                  └─no──▶ WireGuard.receive(from: the peer's handle) ─▶ filter ─▶ backend
extension Engine {
    /// Sends `buffer` (a whole WireGuard datagram) to `endpoint` by the path under it.
    func dispatch(_ buffer: PacketBuffer, to endpoint: IPEndpoint, in batch: inout SendBatch, now: NetInstant) {
        guard let paths else {
            batch.append(buffer, to: UDPEndpoint(endpoint))
            return
        }
        switch paths.resolve(endpoint, now: now) {
        case .passthrough:
            batch.append(buffer, to: UDPEndpoint(endpoint))
        case .udp(let direct):
            batch.append(buffer, to: UDPEndpoint(direct))
        case .relay(let key, let region):
            paths.derp.send(UnsafeRawBufferPointer(buffer.datagram), to: key, region: region, now: now)
            paths.noteRelayed()
            transport.releaseSendBuffer(buffer)
        case .drop:
            transport.releaseSendBuffer(buffer)
        }
    }

    /// Sends what path discovery asks for: disco packets over UDP or through a relay.
    func perform(_ actions: [PathAction], into batch: inout SendBatch, now: NetInstant) {
        guard let paths else { return }
        for action in actions {
            switch action {
            case let .sendUDP(bytes, to):
                guard !bytes.isEmpty, var buffer = transport.makeSendBuffer() else { continue }
                if bytes.withUnsafeBytes({ buffer.setDatagram($0) }) {
                    batch.append(buffer, to: UDPEndpoint(to))
                } else {
                    transport.releaseSendBuffer(buffer)
                }
            case let .sendRelay(bytes, key, region):
                guard !bytes.isEmpty else { continue }
                bytes.withUnsafeBytes { _ = paths.derp.send($0, to: key, region: region, now: now) }
            }
        }
    }

    /// Due disco pings; returns when paths next need the loop without input.
    func pollPaths(into batch: inout SendBatch, now: NetInstant) -> NetInstant? {
        guard let paths else { return nil }
        perform(paths.discovery.poll(now: now), into: &batch, now: now)
        return earliest(paths.discovery.nextDeadline(now: now), paths.derp.nextDeadline(now: now))
    }

    /// Services the relay connections after a poll (`fds[relayPollIndex...]` are theirs: after the
    /// transport, the backend and the host poll sources).
    func serviceRelays(_ fds: [pollfd], replies: inout SendBatch, now: NetInstant) {
        guard let paths else { return }
        fds.withUnsafeBufferPointer { all in
            let relayFDs = UnsafeBufferPointer(rebasing: all[min(relayPollIndex, all.count)...])
            paths.derp.service(now: now, polled: relayFDs) { event in
                switch event {
                case let .packet(region, source, payload):
                    receiveRelayed(payload, from: source, region: region, replies: &replies, now: now)
                case let .established(region, _):
                    logger.info("DERP relay connected", metadata: ["region": "\(region)"])
                case let .closed(region, reason, retryIn):
                    logger.warning("DERP relay connection closed", metadata: [
                        "region": "\(region)", "reason": "\(reason)", "retryIn": "\(retryIn)"])
                case .peerGone:
                    break
                }
            }
        }
    }

    private func receiveRelayed(_ payload: UnsafeMutableRawBufferPointer, from source: PublicKey, region: Int,
                                replies: inout SendBatch, now: NetInstant) {
        guard let paths else { return }
        if DiscoProtocol.looksLikeDisco(UnsafeRawBufferPointer(payload)) {
            perform(paths.discovery.receive(UnsafeRawBufferPointer(payload), via: .relay(region: region, source: source), now: now),
                    into: &replies, now: now)
            return
        }
        guard let handle = paths.handle(of: source) else { return }  // not a peer of ours: dropped
        activateTailnetPeer(sending: UnsafeRawBufferPointer(payload), from: handle)
        switch device.receive(payload, length: payload.count, from: handle, now: now) {
        case .packet(let peer, let range):
            if packetFilter != nil, !packetFilter!.admitsInbound(UnsafeRawBufferPointer(rebasing: payload[range]), now: now) { return }
            backend.deliver(UnsafeMutableRawBufferPointer(rebasing: payload[range]), from: peer, now: now)
        case .reply(let endpoint, let length):
            guard var buffer = transport.makeSendBuffer() else { return }
            if buffer.setDatagram(UnsafeRawBufferPointer(rebasing: payload[0..<length])) {
                dispatch(buffer, to: endpoint, in: &replies, now: now)
            } else {
                transport.releaseSendBuffer(buffer)
            }
        case .processed, .dropped:
            break
        }
    }
}
