import WireNetCLI

#if CLI
/// The `wirenet` executable: everything lives in the WireNetCLI library so tests can reach it.
@main
enum WireNetMain {
    static func main() async {
        await WireNetCommand.main()
    }
}
#else
import Foundation

/// Built without the `CLI` package trait (Package.swift): the command's argument parsing is not
/// compiled in, so say how to build the real command instead of failing to link.
@main
enum WireNetMain {
    static func main() {
        let message = "wirenet: built without the CLI trait; build it with `swift build --traits CLI --product wirenet`"
            + " (scripts/run.sh and scripts/test.sh do)\n"
        FileHandle.standardError.write(Data(message.utf8))
        exit(2)
    }
}
#endif
