#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where the node stands with the control server (the helper's state events).
public enum ControlState: String, Sendable, Equatable, CustomStringConvertible {
    /// Logging in.
    case registering
    /// Control refused the node (wrong, expired or used-up auth key); terminal.
    case refused
    /// Logged in; the map stream delivers netmaps.
    case running
    /// Control is unreachable or the map stream broke; the last netmap stays in force.
    case reconnecting
    /// Logged out.
    case loggedOut

    public var description: String { rawValue }
}

/// One callback of the control helper, decoded (`Docs/control-plane.md`, "C ABI").
enum ControlEvent: Sendable {
    /// A full netmap or a delta.
    case netmap(NetmapUpdate)
    /// A change of state, with control's message (why a key was refused) and when it retries.
    case state(ControlState, message: String, retryIn: Duration?)
    /// A line for the log.
    case log(String)

    /// The event kinds of `wn_event_fn` (`WN_EVENT_NETMAP`, `WN_EVENT_STATE`, `WN_EVENT_LOG`).
    static let netmapKind: Int32 = 1
    static let stateKind: Int32 = 2
    static let logKind: Int32 = 3

    private struct StateMessage: Decodable {
        var state: String
        var message: String?
        var retryInMs: Int64?
    }

    /// Decodes one callback's payload.
    init(kind: Int32, json: UnsafeRawBufferPointer) throws(ControlProtocolError) {
        switch kind {
        case Self.netmapKind:
            self = .netmap(try NetmapUpdate(json: json))
        case Self.stateKind:
            let message: StateMessage
            do {
                message = try JSONDecoder().decode(StateMessage.self, from: Data(json))
            } catch {
                throw ControlProtocolError(message: "state event is not valid JSON: \(error)")
            }
            guard let state = ControlState(rawValue: message.state) else {
                throw ControlProtocolError(message: "unknown control state \(message.state)")
            }
            self = .state(state, message: message.message ?? "", retryIn: message.retryInMs.map { .milliseconds(max(0, $0)) })
        case Self.logKind:
            // Log events are plain text or a JSON string; keep the text either way.
            let text = String(decoding: json, as: UTF8.self)
            if let decoded = try? JSONDecoder().decode(String.self, from: Data(json)) {
                self = .log(decoded)
            } else if let object = try? JSONDecoder().decode([String: String].self, from: Data(json)), let line = object["message"] {
                self = .log(line)
            } else {
                self = .log(text)
            }
        default:
            throw ControlProtocolError(message: "unknown event kind \(kind)")
        }
    }
}
