import Foundation
import NetTestSupport
import Relay

/// The Go test relay from `Tests/TestControl/derp/cmd/derp-relay` (Debian's Go, GOPATH mode), built
/// once per test run into a temporary directory and started per test on a loopback port.
final class DERPRelayProcess {
    enum Failure: Error { case goMissing, noReadyLine(String) }

    let process: BackgroundProcess
    let address: String
    let port: Int
    let publicKeyHex: String

    /// Path of the built relay, or the reason it could not be built.
    static let binary: Result<String, Error> = Result {
        guard Shell.has("go") else { throw Failure.goMissing }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("dp-derp-relay-\(getpid())").path
        try Shell.run(["sh", "-c", """
            set -e; mkdir -p '\(work)/gopath/src'; ln -sfn '\(root)' '\(work)/gopath/src/wirenet'
            cd '\(work)/gopath/src/wirenet/Tests/TestControl/derp/cmd/derp-relay'
            GO111MODULE=off GOFLAGS= GOPATH='\(work)/gopath:/usr/share/gocode' go build -o '\(work)/derp-relay' .
            """])
        return work + "/derp-relay"
    }

    /// Starts the relay on `listen` (default: a free loopback port) and waits for its ready line.
    init(listen: String = "127.0.0.1:0", certificateOut: String? = nil) throws {
        var command = [try Self.binary.get(), "-listen", listen]
        if let certificateOut { command += ["-cert-out", certificateOut] }
        process = try Shell.spawn(command)
        let deadline = Date().addingTimeInterval(20)
        while true {
            let output = process.output
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix("ready ") }) {
                var fields: [String: String] = [:]
                for part in line.split(separator: " ").dropFirst() {
                    let pair = part.split(separator: "=", maxSplits: 1)
                    if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
                }
                let hostPort = fields["addr"] ?? ""
                address = String(hostPort[..<(hostPort.lastIndex(of: ":") ?? hostPort.endIndex)])
                port = Int(hostPort[hostPort.index(after: hostPort.lastIndex(of: ":") ?? hostPort.startIndex)...]) ?? 0
                publicKeyHex = fields["key"] ?? ""
                return
            }
            if Date() > deadline || !process.isRunning { throw Failure.noReadyLine(output) }
            usleep(20_000)
        }
    }

    /// A DERP map with this relay as region `region`, marked `InsecureForTests` unless told otherwise.
    func map(region: Int = 900, insecureForTests: Bool = true) -> DERPMap {
        DERPMap(regions: [region: DERPRegion(regionID: region, regionCode: "test", nodes: [
            DERPNode(name: "\(region)a", regionID: region, hostName: address, ipv4: address, derpPort: port,
                     insecureForTests: insecureForTests ? true : nil),
        ])])
    }

    func stop() { process.stop() }
    func pause() { kill(process.processIdentifier, SIGSTOP) }
    func resume() { kill(process.processIdentifier, SIGCONT) }

    deinit {
        resume()
        stop()
    }
}
