import Foundation
import NetTestSupport
import Testing

/// Polls `condition` every 200 ms for at most `seconds`.
func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(200_000)
    }
    return condition()
}

var labPrerequisites: Bool {
    Shell.isRoot && Shell.has("go") && Shell.has("nft") && Shell.has("curl") && WirenetBinary.isBuilt
}

extension PathInterop {
    @Suite("Paths between tailnet nodes: DERP relay and disco", .serialized, .enabled(if: labPrerequisites))
    struct RelayPathTests {
        @Test("UDP between two nodes blocked: 100 MB through the relay; block lifted mid-transfer: direct; blocked again: back to the relay; every transfer sha256-intact")
        func relayUpgradeFallback() async throws {
            let lab = try TailnetLab()
            defer { lab.tearDown() }
            try lab.startControl()
            let a = try lab.addNodeNamespace("a", index: 1)  // 10.251.6.2
            let b = try lab.addNodeNamespace("b", index: 2)  // 10.251.6.3
            try lab.blockUDP(in: a, peer: "10.251.6.3")

            // Node A serves a 100 MiB file from an HTTP server inside its namespace; B forwards to it by name.
            let files = lab.work + "/files"
            try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
            try Shell.run(["sh", "-c", "head -c 104857600 /dev/urandom > '\(files)/blob'"])
            let sha = String(try Shell.run(["sh", "-c", "sha256sum '\(files)/blob'"]).prefix(64))
            _ = try lab.spawn(["python3", "-m", "http.server", "8080", "--bind", "127.0.0.1", "--directory", files], in: a)
            let (_, socketA) = try lab.startNode("dpa", in: a, extra: ["--serve", "tcp:80=127.0.0.1:8080"])
            let (_, socketB) = try lab.startNode("dpb", in: b, extra: ["--forward", "tcp:127.0.0.1:9000=dpa:80"])

            // 1. Relay only.
            let relayed = try Shell.run(["ip", "netns", "exec", b, "sh", "-c",
                                         "curl -sS --fail --max-time 120 http://127.0.0.1:9000/blob | sha256sum"])
            #expect(relayed.hasPrefix(sha), "\(relayed)")
            #expect(lab.path(of: "dpa", socket: socketB)?.kind == "relayed", "\(String(describing: lab.path(of: "dpa", socket: socketB)))")
            #expect(lab.path(of: "dpb", socket: socketA)?.kind == "relayed")

            // 2. A rate-limited transfer during which the block is lifted, then set again.
            let output = lab.work + "/second.sha"
            let transfer = try lab.spawn(["sh", "-c", "curl -sS --fail --max-time 180 --limit-rate 3M http://127.0.0.1:9000/blob | sha256sum > '\(output)'"], in: b)
            usleep(2_000_000)
            try lab.unblockUDP(in: a)
            #expect(eventually(20) { lab.path(of: "dpa", socket: socketB)?.kind == "direct" }, "the path did not go direct")
            let direct = lab.path(of: "dpa", socket: socketB)
            #expect(direct?.latencyMs != nil)
            usleep(3_000_000)
            try lab.blockUDP(in: a, peer: "10.251.6.3")
            #expect(eventually(20) { lab.path(of: "dpa", socket: socketB)?.kind == "relayed" }, "the path did not fall back")
            #expect(eventually(180) { !transfer.isRunning }, "the transfer did not finish")
            let second = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            #expect(second.hasPrefix(sha), "second transfer: \(second) \(transfer.output)")
        }
    }
}
