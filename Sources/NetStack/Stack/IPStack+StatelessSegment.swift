import Wire

extension IPStack {
    /// Queues a TCP segment that belongs to no connection in the table — a SYN-cookie SYN,ACK, an
    /// ACK from a TIME-WAIT record — built in `scratch`. Returns false if it could not be built.
    @discardableResult
    func sendStatelessSegment(_ segment: TCPSegmentHeader, flow: TCPFlow) -> Bool {
        guard queueHeaderOnlySegment(Self.wireHeader(of: segment, flow: flow), flow: flow) else { return false }
        counters.tcpSegmentsSent += 1
        return true
    }

    /// Builds a segment without payload (`header` inside an IP header for `flow`) in `scratch` and
    /// queues it; false if it could not be built. Shared by resets and stateless segments.
    func queueHeaderOnlySegment(_ header: TCPHeader, flow: TCPFlow) -> Bool {
        let ipLength = Self.ipHeaderLength(flow.local.address)
        let total = ipLength + header.length
        let area = UnsafeMutableRawBufferPointer(rebasing: scratch[ipLength..<total])
        guard emitTCPHeader(header, into: area, flow: flow),
            emitIPHeader(
                into: scratch, source: flow.local.address, destination: flow.remote.address, protocol: .tcp,
                payloadLength: header.length) != nil
        else { return false }
        queueScratch(length: total)
        return true
    }

    /// The TCP header `segment` puts on the wire for `flow` (the ACK number only with ACK set).
    static func wireHeader(of segment: TCPSegmentHeader, flow: TCPFlow) -> TCPHeader {
        let options = TCPOptions(
            maximumSegmentSize: segment.maxSegmentSize, windowScale: segment.windowScale,
            sackPermitted: segment.sackPermitted, timestamps: segment.timestamps, sackBlocks: segment.sackBlocks)
        return TCPHeader(
            sourcePort: flow.local.port, destinationPort: flow.remote.port, sequenceNumber: segment.seq.rawValue,
            acknowledgmentNumber: segment.control.contains(.ack) ? segment.ack.rawValue : 0,
            flags: TCPFlags(rawValue: UInt16(segment.control.rawValue)), window: segment.window, options: options)
    }
}
