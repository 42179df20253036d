import WireNetCLI

/// The `wirenet` executable: everything lives in the WireNetCLI library so tests can reach it.
@main
enum WireNetMain {
    static func main() async {
        await WireNetCommand.main()
    }
}
