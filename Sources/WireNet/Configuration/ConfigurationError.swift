/// A configuration that cannot be used, with where and what is wrong.
///
/// The description reads like a compiler diagnostic — `wg0.conf:7: bad base64 key in PublicKey` — so a
/// person can go straight to the line.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file (or a label such as `<config>` for text that came from memory).
    public var file: String
    /// The 1-based line, when the problem belongs to one line.
    public var line: Int?
    /// What is wrong, in words a person can act on.
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
