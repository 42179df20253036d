import Foundation
import NetTestSupport
import Testing

/// arkitekt-mesh (an independent Tailscale-compatible client: Rust, driven from Python) fetches a
/// file from a wirenet node each time a line arrives on stdin, printing its sha256.
let arkitektFetcher = #"""
import asyncio, hashlib, sys, urllib.request, arkitekt_mesh
async def main(state, url, name):
    node = await arkitekt_mesh.Node.start(state, "dpc", control_url=url, auth_key=sys.argv[4], timeout=60)
    local = await node.forward(name, 80)
    print("ready", local, flush=True)
    for line in sys.stdin:
        def fetch():
            with urllib.request.urlopen("http://%s/blob" % local, timeout=120) as r:
                return hashlib.sha256(r.read()).hexdigest()
        try:
            print("sha", await asyncio.to_thread(fetch), flush=True)
        except Exception as e:
            print("error", repr(e), flush=True)
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
"""#

var arkitektInstalled: Bool { (try? Shell.run(["python3", "-c", "import arkitekt_mesh"])) != nil }

extension PathInterop {
    @Suite("arkitekt-mesh reaches a wirenet node", .serialized, .enabled(if: labPrerequisites && arkitektInstalled))
    struct ArkitektPathTests {
        @Test("through the DERP relay alone (UDP between them dropped), then directly once UDP flows; sha256-checked both times")
        func relayThenDirect() throws {
            let lab = try TailnetLab()
            defer { lab.tearDown() }
            try lab.startControl()
            let a = try lab.addNodeNamespace("a", index: 1)  // 10.251.6.2: wirenet
            let c = try lab.addNodeNamespace("c", index: 3)  // 10.251.6.4: arkitekt-mesh
            try lab.blockUDP(in: a, peer: "10.251.6.4")

            let files = lab.work + "/files"
            try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
            try Shell.run(["sh", "-c", "head -c 4194304 /dev/urandom > '\(files)/blob'"])
            let sha = String(try Shell.run(["sh", "-c", "sha256sum '\(files)/blob'"]).prefix(64))
            _ = try lab.spawn(["python3", "-m", "http.server", "8080", "--bind", "127.0.0.1", "--directory", files], in: a)
            let (_, socketA) = try lab.startNode("dpa", in: a, extra: ["--serve", "tcp:80=127.0.0.1:8080"])

            try arkitektFetcher.write(toFile: lab.work + "/fetch.py", atomically: true, encoding: .utf8)
            let input = Pipe()
            let fetcher = Process()
            fetcher.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            fetcher.arguments = ["netns", "exec", c, "python3", lab.work + "/fetch.py", lab.work + "/state-dpc", lab.controlURL, "dpa", lab.authKey]
            let output = Pipe()
            fetcher.standardInput = input
            fetcher.standardOutput = output
            fetcher.standardError = output
            try fetcher.run()
            defer {
                // Closing stdin ends the fetcher's loop; SIGKILL if it lingers (a child of a test thread
                // inherits a signal mask that blocks SIGTERM).
                try? input.fileHandleForWriting.close()
                if !eventually(5, { !fetcher.isRunning }) { kill(fetcher.processIdentifier, SIGKILL) }
                fetcher.waitUntilExit()
            }
            let lines = LineReader(output.fileHandleForReading)
            #expect(lines.next(timeout: 90)?.hasPrefix("ready") == true, "\(lines.log)")

            // 1. Relay only.
            input.fileHandleForWriting.write("fetch\n".data(using: .utf8)!)
            let first = lines.next(timeout: 150) ?? ""
            #expect(first == "sha \(sha)", "\(first) \(lines.log)")
            #expect(lab.path(of: "dpc", socket: socketA)?.kind == "relayed", "\(String(describing: lab.path(of: "dpc", socket: socketA)))")

            // 2. Direct.
            try lab.unblockUDP(in: a)
            #expect(eventually(30) { lab.path(of: "dpc", socket: socketA)?.kind == "direct" }, "wirenet did not go direct to arkitekt-mesh")
            input.fileHandleForWriting.write("fetch\n".data(using: .utf8)!)
            let second = lines.next(timeout: 150) ?? ""
            #expect(second == "sha \(sha)", "\(second) \(lines.log)")
            #expect(lab.path(of: "dpc", socket: socketA)?.kind == "direct")
        }
    }
}

/// Lines from a pipe, read on a background thread.
final class LineReader: @unchecked Sendable {
    private let lock = NSCondition()
    private var lines: [String] = []
    private(set) var log = ""

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 10) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    lock.lock()
                    log += line + "\n"
                    if line.hasPrefix("ready") || line.hasPrefix("sha") || line.hasPrefix("error") { lines.append(line) }
                    lock.broadcast()
                    lock.unlock()
                }
            }
        }
    }

    func next(timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while lines.isEmpty {
            if !lock.wait(until: deadline) { return nil }
        }
        return lines.removeFirst()
    }
}
