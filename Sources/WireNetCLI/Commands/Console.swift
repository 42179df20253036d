#if canImport(Glibc)
import Glibc
#endif

/// Lines to standard output and standard error, written at once: `wirenet up`'s `ready` line and
/// the demo's progress must reach a pipe when they are printed, not when a buffer fills.
enum Console {
    /// Writes `line` and a newline to standard output and flushes it.
    static func out(_ line: String) {
        write(line + "\n", to: STDOUT_FILENO)
    }

    /// Writes `line` and a newline to standard error.
    static func error(_ line: String) {
        write(line + "\n", to: STDERR_FILENO)
    }

    /// Writes all of `text` to `descriptor` (unbuffered: one `write` per line, nothing held back).
    static func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }
}

/// `x` with `digits` digits after the point (no Foundation formatting here).
func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(x) * scale).rounded()
    guard scaled < 9e18 else { return "\(x)" }
    let whole = Int64(scaled)
    let integer = whole / Int64(scale)
    let fraction = whole % Int64(scale)
    var text = String(integer)
    if digits > 0 {
        let fractionText = String(fraction)
        text += "." + String(repeating: "0", count: digits - fractionText.count) + fractionText
    }
    return x < 0 && whole != 0 ? "-" + text : text
}

/// Seconds of a `Duration`, as a `Double`.
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
