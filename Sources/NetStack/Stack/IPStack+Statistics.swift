extension IPStack {
    /// TCP connections in the table per state (TIME-WAIT included). Walks the table: for status
    /// and metrics snapshots, not for the packet path.
    public var connectionsByState: [TCPState: Int] {
        var counts: [TCPState: Int] = [:]
        for index in tcpByFlow.values {
            if let connection = tcpSlots[Int(index)].connection { counts[connection.state, default: 0] += 1 }
        }
        if tcpTimeWait.count > 0 { counts[.timeWait, default: 0] += tcpTimeWait.count }
        return counts
    }
}
