#if canImport(Glibc)
import Glibc
#endif
import Wire
import WireGuard

extension Node {
    /// Logs in, waits for the first netmap, then starts the engine with the node's addresses and
    /// installs the peers and the policy. Nothing is left running when it throws.
    func startTailnet(_ tailnet: TailnetSession) async throws(NodeError) {
        let library = try ControlHelperLibrary.load(explicit: options.controlHelperPath)
        do throws(NodeError) {
            do {
                try await tailnet.login(library: library)
            } catch let error as NodeError {
                throw error
            } catch is CancellationError {
                throw NodeError.cancelled
            } catch {
                throw NodeError.control("\(error)")
            }
            var configuration = configuration
            configuration.addresses = tailnet.addresses
            guard !configuration.addresses.isEmpty else {
                throw NodeError.control("the control server gave this node no addresses")
            }
            let engine = try launch(configuration)
            tailnet.attach(engine)
            logger.info("joined the tailnet", metadata: [
                "name": "\(tailnet.snapshot().selfNode?.name ?? "")",
                "addresses": "\(configuration.addresses.map(\.description).joined(separator: ","))"])
        } catch {
            await tailnet.shutdownOffPool(logout: false)
            await close()
            throw error
        }
    }

    /// The address `host` names: a tailnet peer's short host name or full name (with or without the
    /// trailing dot), else an IP literal; nil when it is neither.
    public func resolve(host: String) -> IPAddress? {
        if let tailnet, let address = tailnet.resolve(host) { return address }
        return IPAddress(host)
    }
}

extension TailnetSession {
    /// ``shutdown(logout:)`` on a thread of its own: the helper's logout blocks.
    func shutdownOffPool(logout: Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = try? LoopThread(name: "wirenet-logout") {
                self.shutdown(logout: logout)
                continuation.resume()
            }
            if let thread {
                thread.detach()
            } else {
                shutdown(logout: logout)
                continuation.resume()
            }
        }
    }
}

extension NodeStatus {
    /// Adds the netmap's view: names, addresses, online state, control's state.
    mutating func merge(_ view: TailnetSession.Snapshot) {
        if let node = view.selfNode {
            addresses = node.addresses
            name = node.name
        }
        controlState = view.controlState
        controlMessage = view.controlMessage.isEmpty ? nil : view.controlMessage
        var byKey: [PublicKey: Int] = [:]
        for (index, peer) in peers.enumerated() { byKey[peer.publicKey] = index }
        for tailnetPeer in view.peers {
            if let index = byKey[tailnetPeer.nodeKey] {
                peers[index].tailnet = .init(tailnetPeer)
            } else {
                // Known to control but not in WireGuard (its key expired).
                var peer = NodeStatus.Peer(publicKey: tailnetPeer.nodeKey, endpoint: nil, lastHandshakeAge: nil,
                                           receivedBytes: 0, sentBytes: 0, droppedPackets: 0)
                peer.tailnet = .init(tailnetPeer)
                peers.append(peer)
            }
        }
    }
}

extension NodeStatus.TailnetPeerInfo {
    init(_ peer: TailnetPeer) {
        self.init(id: peer.id, hostName: peer.hostName, name: peer.name, addresses: peer.addresses,
                  online: peer.online, lastSeen: peer.lastSeen, expired: peer.expired, homeDERP: peer.homeDERP)
    }
}
