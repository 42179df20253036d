import Metrics

/// One port-forwarding rule's counts at a sample (`wirenet up --serve/--forward`), for
/// ``NodeMetrics/record(forwarding:)``.
public struct ForwardingRuleSample: Sendable, Equatable {
    /// The rule as its owner names it, e.g. `serve tcp:8080=127.0.0.1:8000`; the `rule` label.
    public var rule: String
    /// Connections (UDP: flows) carried now.
    public var active: Int
    /// Connections (UDP: flows) started since the rule opened.
    public var total: UInt64
    /// New connections (UDP: datagrams from senders without a flow) refused because the rule
    /// carried its limit.
    public var refusedByRule: UInt64
    /// The same, refused because their source address carried its limit on the rule.
    public var refusedBySource: UInt64

    public init(rule: String, active: Int, total: UInt64, refusedByRule: UInt64, refusedBySource: UInt64) {
        self.rule = rule
        self.active = active
        self.total = total
        self.refusedByRule = refusedByRule
        self.refusedBySource = refusedBySource
    }
}

extension NodeMetrics {
    /// Brings the forwarding rules' metrics up to date:
    /// - `wirenet_forward_active{rule}` — gauge, connections or flows carried now;
    /// - `wirenet_forward_total{rule}` — counter, connections or flows started;
    /// - `wirenet_forward_refused_total{rule,limit}` — counter, refused by the rule's limit
    ///   (`limit="rule"`) or the per-source limit (`limit="source"`).
    public func record(forwarding rules: [ForwardingRuleSample]) {
        for rule in rules {
            Gauge(label: "wirenet_forward_active", dimensions: [("rule", rule.rule)], factory: factory).record(rule.active)
            advance("wirenet_forward_total", ["rule": rule.rule], to: rule.total)
            advance("wirenet_forward_refused_total", ["rule": rule.rule, "limit": "rule"], to: rule.refusedByRule)
            advance("wirenet_forward_refused_total", ["rule": rule.rule, "limit": "source"], to: rule.refusedBySource)
        }
    }
}
