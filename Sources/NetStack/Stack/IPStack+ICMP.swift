import Wire

/// ICMP echo (RFC 792, RFC 4443 §4) and destination-unreachable errors (RFC 1122 §3.2.2.1,
/// RFC 4443 §3.1).
extension IPStack {
    func receiveICMPv4(_ bytes: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress, now: NetInstant) {
        let message: ICMPv4Message
        do { message = try ICMPv4Message(validating: bytes) } catch {
            counters.malformed += 1
            return
        }
        guard message.isChecksumValid else {
            counters.badChecksum += 1
            return
        }
        guard message.type == .echoRequest, message.code == 0 else {
            // Errors and other messages are not acted on (no PMTU discovery or soft-error reporting).
            counters.icmpIgnored += 1
            return
        }
        // RFC 1122 §3.2.2.6: reply to every echo request, echoing identifier, sequence number and data.
        let reply = ICMPv4.echoReply(
            identifier: message.identifier, sequenceNumber: message.sequenceNumber, data: message.data)
        let total = IPv4Header.length + reply.length
        guard total <= mtu else {
            counters.icmpIgnored += 1
            return
        }
        do { try reply.emit(into: UnsafeMutableRawBufferPointer(rebasing: scratch[IPv4Header.length..<total])) } catch {
            return
        }
        guard emitIPHeader(into: scratch, source: destination, destination: source, protocol: .icmp, payloadLength: reply.length) != nil
        else { return }
        counters.icmpEchoRepliesSent += 1
        queueScratch(length: total)
    }

    func receiveICMPv6(_ bytes: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress, now: NetInstant) {
        guard case let .v6(s) = source, case let .v6(d) = destination else { return }
        let message: ICMPv6Message
        do { message = try ICMPv6Message(validating: bytes) } catch {
            counters.malformed += 1
            return
        }
        guard message.isChecksumValid(source: s, destination: d) else {
            counters.badChecksum += 1
            return
        }
        guard message.type == .echoRequest, message.code == 0 else {
            counters.icmpIgnored += 1
            return
        }
        // RFC 4443 §4.2: the reply carries the request's identifier, sequence number and data.
        let reply = ICMPv6.echoReply(
            identifier: message.identifier, sequenceNumber: message.sequenceNumber, data: message.data)
        let total = IPv6Header.length + reply.length
        guard total <= mtu else {
            counters.icmpIgnored += 1
            return
        }
        do {
            try reply.emit(
                into: UnsafeMutableRawBufferPointer(rebasing: scratch[IPv6Header.length..<total]), source: d, destination: s)
        } catch { return }
        guard emitIPHeader(into: scratch, source: destination, destination: source, protocol: .icmpv6, payloadLength: reply.length) != nil
        else { return }
        counters.icmpEchoRepliesSent += 1
        queueScratch(length: total)
    }

    /// ICMP port unreachable for a UDP datagram to a closed port (RFC 1122 §4.1.3.1), quoting as much
    /// of the invoking packet as fits (RFC 1812 §4.3.2.3: 576 bytes; RFC 4443 §2.4 (c): 1280), and
    /// rate-limited (RFC 1812 §4.3.2.8, RFC 4443 §2.4 (f)).
    func sendPortUnreachable(
        invokingPacket: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress, now: NetInstant
    ) {
        guard errorReplies.take(now: now) else {
            counters.errorRepliesRateLimited += 1
            return
        }
        switch (source, destination) {
        case (.v4, .v4):
            let quote = UnsafeRawBufferPointer(rebasing: invokingPacket.prefix(ICMPv4.maximumInvokingPacketLength))
            let message = ICMPv4.destinationUnreachable(.portUnreachable, nextHopMTU: 0, invokingPacket: quote)
            let total = IPv4Header.length + message.length
            do { try message.emit(into: UnsafeMutableRawBufferPointer(rebasing: scratch[IPv4Header.length..<total])) } catch {
                return
            }
            guard emitIPHeader(into: scratch, source: destination, destination: source, protocol: .icmp, payloadLength: message.length) != nil
            else { return }
            counters.icmpUnreachableSent += 1
            queueScratch(length: total)
        case let (.v6(s), .v6(d)):
            let quote = UnsafeRawBufferPointer(rebasing: invokingPacket.prefix(ICMPv6.maximumInvokingPacketLength))
            let message = ICMPv6.destinationUnreachable(.portUnreachable, invokingPacket: quote)
            let total = IPv6Header.length + message.length
            do {
                try message.emit(
                    into: UnsafeMutableRawBufferPointer(rebasing: scratch[IPv6Header.length..<total]), source: d, destination: s)
            } catch { return }
            guard emitIPHeader(into: scratch, source: destination, destination: source, protocol: .icmpv6, payloadLength: message.length) != nil
            else { return }
            counters.icmpUnreachableSent += 1
            queueScratch(length: total)
        default:
            return
        }
    }
}
