import Testing
import Wire
@testable import WireGuard

/// Keys never show up in printed or reflected output, and per-packet key use copies nothing.
@Suite struct SecretHandlingTests {
    /// Every way a secret could be spelled in text: base64, hex, and the decimal storage words a
    /// default `dump` would print.
    func spellings(of key: Key32) -> [String] {
        let words = [key.storage.0, key.storage.1, key.storage.2, key.storage.3].map { String($0) }
        return [key.base64, key.hex] + words
    }

    func printed(_ value: Any) -> String {
        var dumped = ""
        dump(value, to: &dumped)
        return String(describing: value) + "\n" + String(reflecting: value) + "\n" + dumped + "\n\(value)"
    }

    @Test func privateAndPresharedKeysPrintRedacted() {
        let privateKey = PrivateKey()
        let psk = PresharedKey()
        for (value, secret) in [(privateKey as Any, privateKey.key), (psk as Any, psk.key), (privateKey.key as Any, privateKey.key)] {
            let text = printed(value)
            for spelling in spellings(of: secret) { #expect(!text.contains(spelling), "leaked in: \(text)") }
        }
        // The public half is still shown: it is what identifies the key.
        #expect(printed(privateKey).contains(privateKey.publicKey.description))
    }

    @Test func aDumpedDeviceWithSessionsShowsNoSecret() throws {
        let network = SimulatedNetwork(seed: 3)
        let a = network.addHost(1)
        let b = network.addHost(2)
        let psk = PresharedKey()
        try network.pair(a, b, presharedKey: psk)
        network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1]), from: a)
        network.run()
        #expect(b.delivered.count == 1)
        let text = printed(a.device)
        let peer = try #require(a.device.peers[b.publicKey])
        var secrets = [a.device.privateKey.key, psk.key, peer.staticStatic]
        secrets.append(contentsOf: [peer.handshake.chainKey, peer.handshake.hash].filter { !$0.isZero })
        for secret in secrets {
            for spelling in spellings(of: secret) { #expect(!text.contains(spelling)) }
        }
    }

    /// The transport keys are handed to the cipher from the keypair's own storage: no copy of a key
    /// is left on the stack for every packet.
    @Test func transportKeysAreLentInPlace() throws {
        let local = PrivateKey()
        let peer = Peer(configuration: PeerConfiguration(publicKey: PrivateKey().publicKey), local: local,
                        timerSlot: 0, timerSchedule: PeerTimerSchedule())
        var sendKey = Key32(bytes: [UInt8](repeating: 7, count: 32))!
        var receiveKey = Key32(bytes: [UInt8](repeating: 9, count: 32))!
        let keypair = Keypair(sendKey: sendKey, receiveKey: receiveKey, created: .zero, isInitiator: true,
                              localIndex: 1, remoteIndex: 2, peer: peer)
        sendKey.wipe()
        receiveKey.wipe()
        let object = UInt(bitPattern: Unmanaged.passUnretained(keypair).toOpaque())
        let send = keypair.withSendKey { UInt(bitPattern: $0) }
        let receive = keypair.withReceiveKey { UInt(bitPattern: $0) }
        #expect(send > object && send < object + 256)
        #expect(receive > object && receive < object + 256)
        #expect(keypair.withSendKey { $0.load(as: UInt8.self) } == 7)
    }
}
