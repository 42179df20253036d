#if canImport(Glibc)
import Glibc
#endif

/// Warnings about key material in files other users can read, worded as `wg` and `wg-quick` word them.
public enum KeyFileAccess {
    /// Permission bits for "others" (`S_IRWXO`).
    static let otherBits: mode_t = 0o007

    /// `wg-quick`'s warning when the configuration (which holds the private key) grants any access
    /// to other users; nil when it does not (or cannot be examined: reading it reports that).
    public static func worldAccessibleWarning(forConfiguration path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & otherBits != 0 else { return nil }
        return "Warning: `\(path)' is world accessible (mode \(octal(info.st_mode & 0o777))); it holds a private key: chmod 600 it"
    }

    /// `wg genkey`'s warning when standard output (`descriptor`) is a regular file other users can
    /// access; nil for a terminal, a pipe or a private file.
    public static func worldAccessibleWarning(forOutput descriptor: Int32) -> String? {
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & otherBits != 0 else {
            return nil
        }
        return "Warning: writing to world accessible file.\nConsider setting the umask to 077 and trying again."
    }

    static func octal(_ mode: mode_t) -> String {
        "0" + String(mode, radix: 8)
    }
}
