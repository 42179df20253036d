#if CLI  // The command itself needs swift-argument-parser (and --metrics swift-prometheus): Package.swift.
import ArgumentParser

/// The `wirenet` command: keys, a node in the foreground with port forwarding, its status, and a demo.
///
/// The executable target only calls ``main()``; the commands live here so tests can reach their
/// parts.
public struct WireNetCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "wirenet",
        abstract: "An embeddable WireGuard node with a userspace TCP/IP stack.",
        discussion: "Start with `wirenet demo`.",
        subcommands: [Demo.self, Up.self, Status.self, GenerateKey.self, PublicKeyCommand.self, GeneratePresharedKey.self])

    public init() {}
}
#endif
