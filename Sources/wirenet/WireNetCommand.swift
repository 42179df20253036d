import ArgumentParser

@main
struct WireNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wirenet",
        abstract: "An embeddable WireGuard node with a userspace TCP/IP stack.")
}
