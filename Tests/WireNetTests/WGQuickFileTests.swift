import Testing
import Wire
import WireGuard
@testable import WireNet

@Suite("wg-quick configuration files")
struct WGQuickFileTests {
    let nodeKey = PrivateKey()
    let peerKey = PrivateKey()
    let otherPeerKey = PrivateKey()
    let psk = PresharedKey()

    var fullText: String {
        """
        # A node with two addresses and two peers.
        [Interface]
        PrivateKey = \(nodeKey.base64)
        Address = 100.64.1.1/32, fd7a:115c:a1e0::1/128
        Address = 100.64.9.9
        ListenPort = 51820
        MTU = 1280
        DNS = 100.100.100.100

        [Peer]
        PublicKey = \(peerKey.publicKey)
        PresharedKey = \(psk.base64)
        Endpoint = 10.250.1.2:51821
        AllowedIPs = 100.64.2.0/24, fd7a:115c:a1e0:2::/64
        AllowedIPs = 100.64.3.7/16
        PersistentKeepalive = 25

        [peer]
        publickey = \(otherPeerKey.publicKey)
        endpoint = [fd00::2]:51822
        """
    }

    @Test func everyKeyOfAFullFileIsRead() throws {
        let file = try WGQuickFile(parsing: fullText, file: "wg0.conf")
        let config = file.configuration
        #expect(config.privateKey.publicKey == nodeKey.publicKey)
        #expect(config.addresses.map(\.description) == ["100.64.1.1/32", "fd7a:115c:a1e0::1/128", "100.64.9.9/32"])
        #expect(config.listenPort == 51820)
        #expect(config.mtu == 1280)
        #expect(config.peers.count == 2)
        let peer = config.peers[0]
        #expect(peer.publicKey == peerKey.publicKey)
        #expect(peer.presharedKey?.base64 == psk.base64)
        #expect(peer.endpoint == PeerEndpoint(host: "10.250.1.2", port: 51821))
        // Host bits are masked, as wg does.
        #expect(peer.allowedIPs.map(\.description) == ["100.64.2.0/24", "fd7a:115c:a1e0:2::/64", "100.64.0.0/16"])
        #expect(peer.persistentKeepalive == .seconds(25))
        #expect(config.peers[1].endpoint == PeerEndpoint(host: "fd00::2", port: 51822))
        #expect(config.peers[1].persistentKeepalive == nil)
        #expect(file.ignoredKeys.map(\.key) == ["DNS"])
        #expect(file.ignoredKeys.map(\.line) == [8])
    }

    @Test func defaultsApplyWhenOptionalKeysAreAbsent() throws {
        let config = try NodeConfiguration(wgQuick: "[Interface]\nPrivateKey=\(nodeKey.base64)\nAddress=100.64.1.1/32\n")
        #expect(config.listenPort == nil)
        #expect(config.mtu == NodeConfiguration.defaultMTU)
        #expect(config.peers.isEmpty)
    }

    /// Each broken file names the line and the problem.
    @Test(arguments: [
        ("[Interface]\nPrivateKey = abc\n", 2, "bad base64 key in PrivateKey"),
        ("[Interface]\nPrivatKey = x\n", 2, "unknown key PrivatKey in [Interface]"),
        ("[Interface]\nAddress = 100.64.1.1/33\n", 2, "bad address 100.64.1.1/33"),
        ("[Interface]\nListenPort = 70000\n", 2, "bad ListenPort 70000"),
        ("[Interface]\nMTU = 9\n", 2, "bad MTU 9"),
        ("[Interface]\nMTU = 1400\nMTU = 1400\n", 3, "duplicate MTU"),
        ("Address = 1.2.3.4/32\n", 1, "appears before any"),
        ("[Interface]\n[Interface]\n", 2, "a second [Interface]"),
        ("[Interfac]\n", 1, "unknown section [Interfac]"),
        ("[Interface]\njust words\n", 2, "expected `Key = Value`"),
        ("[Interface]\nAddress = 100.64.1.1/32,,\n", 2, "empty item"),
    ])
    func brokenInterfaceLinesAreReportedWithTheirLine(text: String, line: Int, message: String) {
        #expect {
            try WGQuickFile(parsing: text, file: "bad.conf")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.file == "bad.conf" && error.line == line && error.message.contains(message)
        }
    }

    @Test func brokenPeerLinesAreReportedWithTheirLine() {
        let head = "[Interface]\nPrivateKey = \(nodeKey.base64)\nAddress = 100.64.1.1/32\n[Peer]\n"
        let cases: [(String, String)] = [
            ("PublicKey = AAAA", "bad base64 key in PublicKey"),
            ("AllowedIPs = 100.64.0.0/99", "bad CIDR 100.64.0.0/99 in AllowedIPs"),
            ("AllowedIPs = banana", "bad CIDR banana"),
            ("Endpoint = fd00::1:51820", "bad Endpoint"),
            ("Endpoint = host:0", "bad Endpoint"),
            ("PersistentKeepalive = soon", "bad PersistentKeepalive"),
            ("Colour = blue", "unknown key Colour in [Peer]"),
        ]
        for (line, message) in cases {
            #expect {
                try WGQuickFile(parsing: head + line + "\n", file: "p.conf")
            } throws: { error in
                let error = error as? ConfigurationError
                return error?.line == 5 && error?.message.contains(message) == true
            }
        }
    }

    /// A broken line may carry a key (a missing `=`, a mistyped key name, a key pasted into the
    /// wrong field); the error names the line but never repeats the key.
    @Test func errorsNeverEchoAKey() {
        let secret = nodeKey.base64
        let unpadded = String(secret.dropLast())
        let lines = [
            "PrivateKey \(unpadded)",          // no `=` at all: the whole line used to be echoed
            "PrivateKey \(secret)",            // the key's own `=` makes "PrivateKey <key>" the key name
            "PrivateKey: \(secret)",
            "[\(unpadded)]",
            "[\(unpadded)",
            "Address = \(secret)",
            "ListenPort = \(secret)",
            "MTU = \(secret)",
        ]
        for line in lines {
            do {
                _ = try WGQuickFile(parsing: "[Interface]\n\(line)\n", file: "k.conf")
                Issue.record("accepted \(line)")
            } catch {
                #expect(error.line == 2)
                #expect(!error.description.contains(unpadded.prefix(20)), "echoed: \(error.description)")
            }
        }
    }

    @Test func aDuplicatePeerNamesBothLines() {
        let text = """
        [Interface]
        PrivateKey = \(nodeKey.base64)
        Address = 100.64.1.1/32
        [Peer]
        PublicKey = \(peerKey.publicKey)
        [Peer]
        PublicKey = \(peerKey.publicKey)
        """
        #expect(throws: ConfigurationError(
            file: "<config>", line: 6, message: "duplicate peer \(peerKey.publicKey) (first at line 4)")) {
            try WGQuickFile(parsing: text)
        }
    }

    @Test func fileLevelProblemsHaveNoLine() {
        #expect(throws: ConfigurationError(file: "<config>", line: nil, message: "no [Interface] section")) {
            try WGQuickFile(parsing: "# empty\n")
        }
        #expect(throws: ConfigurationError(file: "<config>", line: nil, message: "[Interface] has no PrivateKey")) {
            try WGQuickFile(parsing: "[Interface]\nAddress = 100.64.1.1/32\n")
        }
        #expect {
            try WGQuickFile(parsing: "[Interface]\nPrivateKey = \(nodeKey.base64)\n")
        } throws: { ($0 as? ConfigurationError)?.message.contains("no Address") == true }
        #expect {
            try WGQuickFile(parsing: "[Interface]\nPrivateKey = \(nodeKey.base64)\nAddress = 100.64.1.1\n[Peer]\nEndpoint = a:1\n")
        } throws: { ($0 as? ConfigurationError)?.message == "[Peer] has no PublicKey" }
    }

    @Test func aMissingFileIsAnErrorNamingIt() {
        #expect {
            try WGQuickFile(contentsOfFile: "/nonexistent/wg0.conf")
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.file == "/nonexistent/wg0.conf" && error?.message.contains("cannot open") == true
        }
    }

    @Test func endpointsParseAsWgDoes() {
        #expect(PeerEndpoint("example.com:51820") == PeerEndpoint(host: "example.com", port: 51820))
        #expect(PeerEndpoint("[fd7a:115c:a1e0::1]:1") == PeerEndpoint(host: "fd7a:115c:a1e0::1", port: 1))
        #expect(PeerEndpoint("10.250.1.2:51820")?.literal == IPEndpoint.v4(10, 250, 1, 2, port: 51820))
        #expect(PeerEndpoint("example.com:51820")?.literal == nil)
        #expect(PeerEndpoint("[not-v6]:1") == nil)
        #expect(PeerEndpoint("noport") == nil)
        #expect(PeerEndpoint("[::1]:1")?.description == "[::1]:1")
    }
}
