import CWireNetShims
import Logging

/// The pages of code and constants that starting `wirenet up` touched once and an idle node no longer
/// needs: the dynamic loader's, the Swift runtime's and Foundation's start-up, argument parsing,
/// reading the configuration. They are clean pages of the executable's and the shared libraries'
/// read-only mappings (already in the page cache and shared with other processes), but each one
/// counts in the process's resident set (RSS) as long as it stays mapped — about 15 MiB of the
/// 19.6 MiB an idle node held (perf/results/2026-12-01T0638Z-idle-rss.json).
enum StartupPages {
    /// How long after `ready` `wirenet up` releases them a second time.
    static let secondReleaseDelay: Duration = .seconds(10)

    /// Unmaps them once the node runs (``wirenet_release_file_pages``): pages touched again come back
    /// one fault (64 KiB of fault-around) at a time. Private and anonymous pages are not touched.
    static func release(logger: Logger) {
        var released = wirenet_released_pages()
        let result = wirenet_release_file_pages(&released)
        if result < 0 {
            logger.debug("could not release the start-up pages", metadata: ["errno": "\(-result)"])
        } else {
            logger.debug("released the start-up pages", metadata: [
                "mappings": "\(released.mappings)", "kib": "\(released.kib)",
            ])
        }
    }
}
