import WireNetCLI

#if CLI
#if canImport(Glibc)
import Glibc
#endif

/// The `wirenet` executable: everything lives in the WireNetCLI library so tests can reach it.
///
/// A synchronous `main` that parks the main thread, not `static func main() async`: Swift's async
/// entry point hands the main queue to `dispatch_main()`, which ends the main thread with
/// `pthread_exit`, and that unwinds the thread's stack through `.eh_frame_hdr` and `.eh_frame`:
/// about 0.6 MiB of the executable made resident once and never used again (issue 14, idle RSS;
/// Docs/performance.md). Nothing in the command runs on the main actor, so the main queue needs
/// no thread; the command runs on the global executor and its end is the process's end.
@main
enum WireNetMain {
    static func main() {
        Task.detached {
            await WireNetCommand.main()
            exit(0)
        }
        while true { pause() }
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
