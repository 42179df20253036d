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

    /// TCP segments sent again since the stack started, by kind: the connections in the table and
    /// those already freed. Walks the table: for status and metrics snapshots, not the packet path.
    public var tcpRetransmissions: TCPRetransmissionCounts {
        var counts = tcpRetransmissionsOfFreedConnections
        for index in tcpByFlow.values {
            if let connection = tcpSlots[Int(index)].connection { counts += connection.retransmissions }
        }
        return counts
    }
}

extension IPStack {
    /// Bytes one entry of the connection table takes inline (the connection's state machine, its
    /// flow and bookkeeping), not counting what the entry points to (buffer chunks, SACK scoreboard).
    /// For memory measurements (perf/conn-memory.sh).
    public static var connectionStateSize: Int { MemoryLayout<TCPSlot>.stride }
}

extension IPStack {
    /// Bytes the TCP buffers of all connections hold now (at most `tcpBufferMemoryLimit`).
    public var tcpBufferBytesInUse: Int { tcpBufferPool.bytesInUse }
    /// The most `tcpBufferBytesInUse` has been.
    public var tcpBufferPeakBytes: Int { tcpBufferPool.peakChunksInUse * tcpBufferPool.chunkSize }
}
