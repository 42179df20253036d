#if CLI  // The command itself needs swift-argument-parser (and --metrics swift-prometheus): Package.swift.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `wirenet status`: asks a running `wirenet up` for its state over the control socket.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the state of a running `wirenet up` (keys, addresses, peers, handshakes, forwarding).")

    @Argument(help: "The interface: the configuration file's name without .conf, or the tailnet host name (default: the only one running).")
    var interface: String?

    @Option(help: ArgumentHelp("The control socket of the `wirenet up` to ask (overrides the interface).", valueName: "path"))
    var socket: String?

    @Flag(help: "Print one JSON object (per-peer host name, addresses, online state, last handshake, traffic).")
    var json = false

    func run() throws {
        do {
            let path = try socket ?? interface.map(ControlSocketPath.current(interface:)) ?? onlyRunningSocket()
            let reply = try ControlClient.request(json ? "status-json" : "status", path: path)
            Console.write(reply, to: STDOUT_FILENO)
        } catch {
            Console.error("wirenet: \(error)")
            throw ExitCode.failure
        }
    }

    /// The one control socket in the default directory; an error naming the choices otherwise.
    private func onlyRunningSocket() throws -> String {
        let directory = ControlSocketPath.currentDirectory
        var names: [String] = []
        if let handle = opendir(directory) {
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name.hasSuffix(".sock") { names.append(String(name.dropLast(5))) }
            }
        }
        switch names.count {
        case 0: throw CommandFailure("no `wirenet up` control socket in \(directory) (is one running? pass --socket PATH otherwise)")
        case 1: return "\(directory)/\(names[0]).sock"
        default: throw CommandFailure("several nodes run (\(names.sorted().joined(separator: ", "))); name one: wirenet status NAME")
        }
    }
}
#endif
