import Foundation
import Testing

/// `scripts/sanitizers/thread.supp` suppresses no `Mutex` hand-over any more: a bare
/// `Synchronization.Mutex` in WireNet's code would bring the false reports back under
/// `scripts/sanitizers.sh thread` (and only when two threads happen to contend for it). So every lock
/// of the package's Swift code is a `Lock`.
@Suite struct EveryLockTests {
    /// Folders whose Swift files may name `Mutex`: `Lock` itself, and `WireNetAPITests`, which plays a
    /// user's program that imports WireNet alone.
    static let allowed = ["Sources/Locking/", "Tests/WireNetAPITests/"]

    @Test func noBareMutexOutsideLocking() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let pattern = try Regex(#"\bMutex\s*[<(]"#)
        var found: [String] = []
        var scanned = 0
        for folder in ["Sources", "Tests", "perf"] {
            let base = root.appendingPathComponent(folder)
            guard let files = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { continue }
            for case let file as URL in files where file.pathExtension == "swift" {
                let relative = String(file.path.dropFirst(root.path.count + 1))
                if Self.allowed.contains(where: { relative.hasPrefix($0) }) { continue }
                scanned += 1
                let text = try String(contentsOf: file, encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let code = line.drop(while: { $0 == " " })
                    if code.hasPrefix("//") { continue }
                    if line.contains(pattern) { found.append("\(relative):\(number + 1): \(code)") }
                }
            }
        }
        #expect(scanned > 100, "scanned \(scanned) Swift files under \(root.path)")
        #expect(found.isEmpty, "use Locking's Lock (its hand-over is visible to ThreadSanitizer):\n\(found.joined(separator: "\n"))")
    }
}
