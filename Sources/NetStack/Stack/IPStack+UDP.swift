import Wire

/// One bound UDP socket: its port, optional address, and a bounded queue of received datagrams.
struct UDPSlot {
    var generation: UInt32 = 0
    var open = false
    var port: UInt16 = 0
    var address: IPAddress? = nil
    /// Datagrams as records: family (1), address (16), port (2), length (2), data.
    var queue: ByteRing? = nil
    var queuedDatagrams = 0
}

/// UDP (RFC 768; RFC 8200 §8.1 for IPv6) sockets: bind, send-to, receive-from.
extension IPStack {
    static let udpRecordHeader = 21

    func receiveUDP(
        _ bytes: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress,
        invokingPacket: UnsafeRawBufferPointer?, now: NetInstant
    ) {
        let datagram: UDPDatagram
        do { datagram = try UDPDatagram(validating: bytes) } catch {
            counters.malformed += 1
            return
        }
        let valid: Bool
        switch (source, destination) {
        case let (.v4(s), .v4(d)): valid = datagram.isChecksumValid(source: s, destination: d)
        case let (.v6(s), .v6(d)): valid = datagram.isChecksumValid(source: s, destination: d)
        default: valid = false
        }
        guard valid else {
            counters.badChecksum += 1
            return
        }
        guard let index = udpByPort[datagram.destinationPort], udpSockets[Int(index)].open,
            udpSockets[Int(index)].address == nil || udpSockets[Int(index)].address == destination,
            let queue = udpSockets[Int(index)].queue
        else {
            counters.udpNoSocket += 1
            if let invokingPacket {
                sendPortUnreachable(invokingPacket: invokingPacket, source: source, destination: destination, now: now)
            }
            return
        }
        let payload = datagram.payload
        guard queue.freeSpace >= Self.udpRecordHeader + payload.count else {
            counters.udpReceiveQueueDrops += 1
            return
        }
        counters.udpDatagramsReceived += 1
        var record = (UInt64(0), UInt64(0), UInt64(0))  // 24 bytes of scratch for the 21-byte header
        withUnsafeMutableBytes(of: &record) { raw in
            switch source {
            case let .v4(a):
                raw[0] = 4
                raw.storeBytes(of: a.rawValue.bigEndian, toByteOffset: 1, as: UInt32.self)
            case let .v6(a):
                raw[0] = 6
                raw.storeBytes(of: a.high.bigEndian, toByteOffset: 1, as: UInt64.self)
                raw.storeBytes(of: a.low.bigEndian, toByteOffset: 9, as: UInt64.self)
            }
            raw.storeBytes(of: datagram.sourcePort.bigEndian, toByteOffset: 17, as: UInt16.self)
            raw.storeBytes(of: UInt16(payload.count).bigEndian, toByteOffset: 19, as: UInt16.self)
            _ = queue.append(UnsafeRawBufferPointer(rebasing: raw.prefix(Self.udpRecordHeader)))
        }
        queue.append(payload)
        udpSockets[Int(index)].queuedDatagrams += 1
        post(.readable, to: .udp(UDPSocketHandle(index: index, generation: udpSockets[Int(index)].generation)))
    }

    func udpIndex(_ handle: UDPSocketHandle) throws(SocketError) -> Int {
        let i = Int(handle.index)
        guard udpSockets.indices.contains(i), udpSockets[i].open, udpSockets[i].generation == handle.generation else {
            throw .invalidHandle
        }
        return i
    }

    /// Binds a UDP socket to `port` (0: a random ephemeral port, RFC 6056) on `address` (nil: all of the
    /// stack's addresses).
    public func bindUDP(port: UInt16 = 0, address: IPAddress? = nil) throws(SocketError) -> UDPSocketHandle {
        if let address, !isLocal(address) { throw .addressNotAvailable(address) }
        var chosen = port
        if chosen == 0 {
            for _ in 0..<64 {
                let candidate = UInt16(49152 + Int(random.next() % 16384))
                if udpByPort[candidate] == nil {
                    chosen = candidate
                    break
                }
            }
            guard chosen != 0 else { throw .noEphemeralPort }
        }
        guard udpByPort[chosen] == nil else { throw .addressInUse(IPEndpoint(address ?? .v4(.any), chosen)) }
        var slot = UDPSlot()
        slot.open = true
        slot.port = chosen
        slot.address = address
        slot.queue = ByteRing(capacity: configuration.udpReceiveBufferSize)
        let index: Int32
        if let free = udpSockets.firstIndex(where: { !$0.open }) {
            slot.generation = udpSockets[free].generation &+ 1
            udpSockets[free] = slot
            index = Int32(free)
        } else {
            index = Int32(udpSockets.count)
            udpSockets.append(slot)
        }
        udpByPort[chosen] = index
        return UDPSocketHandle(index: index, generation: slot.generation)
    }

    /// The local port of a UDP socket.
    public func localPort(of socket: UDPSocketHandle) throws(SocketError) -> UInt16 {
        udpSockets[try udpIndex(socket)].port
    }

    /// Largest UDP payload one packet can carry to `address` at this MTU.
    public func maximumDatagramSize(to address: IPAddress) -> Int {
        mtu - Self.ipHeaderLength(address) - UDPDatagram.headerLength
    }

    /// Sends one datagram to `remote` from the socket's port (and address, or the stack's first address of
    /// the same family). Datagrams larger than one packet are refused (no fragmentation on output).
    public func sendUDP(_ socket: UDPSocketHandle, to remote: IPEndpoint, _ payload: UnsafeRawBufferPointer)
        throws(SocketError)
    {
        let i = try udpIndex(socket)
        let local: IPAddress
        switch (udpSockets[i].address, remote.address) {
        case let (.v4(a)?, .v4): local = .v4(a)
        case let (.v6(a)?, .v6): local = .v6(a)
        case (nil, .v4):
            guard let a = ipv4Addresses.first else { throw .addressNotAvailable(remote.address) }
            local = .v4(a)
        case (nil, .v6):
            guard let a = ipv6Addresses.first else { throw .addressNotAvailable(remote.address) }
            local = .v6(a)
        default:
            throw .addressNotAvailable(remote.address)
        }
        let maximum = maximumDatagramSize(to: remote.address)
        guard payload.count <= maximum else { throw .messageTooLong(size: payload.count, maximum: maximum) }
        let ipLength = Self.ipHeaderLength(local)
        let udpLength = UDPDatagram.headerLength + payload.count
        let area = UnsafeMutableRawBufferPointer(rebasing: scratch[ipLength..<(ipLength + udpLength)])
        if let base = payload.baseAddress, payload.count > 0 {
            (area.baseAddress! + UDPDatagram.headerLength).copyMemory(from: base, byteCount: payload.count)
        }
        let header = UDPHeader(sourcePort: udpSockets[i].port, destinationPort: remote.port)
        do {
            switch (local, remote.address) {
            case let (.v4(s), .v4(d)): try header.emit(into: area, source: s, destination: d)
            case let (.v6(s), .v6(d)): try header.emit(into: area, source: s, destination: d)
            default: throw SocketError.addressNotAvailable(remote.address)
            }
        } catch { throw .addressNotAvailable(remote.address) }
        guard emitIPHeader(into: scratch, source: local, destination: remote.address, protocol: .udp, payloadLength: udpLength) != nil
        else { throw .messageTooLong(size: payload.count, maximum: maximum) }
        guard output.push(UnsafeRawBufferPointer(rebasing: scratch.prefix(ipLength + udpLength))) else {
            counters.outputQueueDrops += 1
            throw .noBufferSpace
        }
        counters.udpDatagramsSent += 1
    }

    /// Receives the oldest queued datagram: copies up to `buffer.count` bytes (the rest of a longer
    /// datagram is discarded) and returns the copied length and the sender; nil when none is queued.
    public func receiveUDP(_ socket: UDPSocketHandle, into buffer: UnsafeMutableRawBufferPointer)
        throws(SocketError) -> (length: Int, from: IPEndpoint)?
    {
        let i = try udpIndex(socket)
        guard let queue = udpSockets[i].queue, udpSockets[i].queuedDatagrams > 0 else { return nil }
        var record = (UInt64(0), UInt64(0), UInt64(0))
        let (from, length): (IPEndpoint, Int) = withUnsafeMutableBytes(of: &record) { raw in
            let header = UnsafeMutableRawBufferPointer(rebasing: raw.prefix(Self.udpRecordHeader))
            queue.peek(atOffset: 0, into: header)
            let address: IPAddress
            if raw[0] == 4 {
                address = .v4(IPv4Address(rawValue: UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 1, as: UInt32.self))))
            } else {
                address = .v6(IPv6Address(
                    high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 1, as: UInt64.self)),
                    low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 9, as: UInt64.self))))
            }
            let port = UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 17, as: UInt16.self))
            let length = Int(UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 19, as: UInt16.self)))
            return (IPEndpoint(address, port), length)
        }
        let copied = Swift.min(length, buffer.count)
        queue.peek(atOffset: Self.udpRecordHeader, into: UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(copied)))
        queue.consume(Self.udpRecordHeader + length)
        udpSockets[i].queuedDatagrams -= 1
        return (copied, from)
    }

    /// Closes a UDP socket, discarding queued datagrams.
    public func close(_ socket: UDPSocketHandle) {
        guard let i = try? udpIndex(socket) else { return }
        udpSockets[i].open = false
        udpSockets[i].queue = nil
        udpSockets[i].queuedDatagrams = 0
        udpByPort.removeValue(forKey: udpSockets[i].port)
        udpEvents.removeValue(forKey: socket.index)
    }
}
