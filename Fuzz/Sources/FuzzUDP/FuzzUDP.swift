import Wire

/// UDPDatagram: the length field bounds the view; UDPHeader(parsed) emitted with the same payload
/// parses back to the same ports and payload, with a checksum that verifies (never zero on the wire).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let datagram = try? UDPDatagram(validating: input) else { return 0 }
    precondition(datagram.length >= 8 && datagram.length <= size && datagram.payload.count == datagram.length - 8)
    let v4Source = IPv4Address(10, 250, 0, 1), v4Destination = IPv4Address(10, 250, 0, 2)
    let v6Source = IPv6Address(high: 0xFD7A_115C_A1E0_0000, low: 1)
    let v6Destination = IPv6Address(high: 0xFD7A_115C_A1E0_0000, low: 2)
    _ = datagram.isChecksumValid(source: v4Source, destination: v4Destination)
    _ = datagram.isChecksumValid(source: v6Source, destination: v6Destination)

    let header = UDPHeader(datagram)
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: datagram.length, alignment: 8)
    defer { output.deallocate() }
    UnsafeMutableRawBufferPointer(rebasing: output[8...]).copyMemory(from: datagram.payload)
    for family in 0..<2 {
        do {
            if family == 0 {
                try header.emit(into: output, source: v4Source, destination: v4Destination)
            } else {
                try header.emit(into: output, source: v6Source, destination: v6Destination)
            }
        } catch {
            preconditionFailure("emit failed for a parsed datagram: \(error)")
        }
        guard let reparsed = try? UDPDatagram(validating: UnsafeRawBufferPointer(output)) else {
            preconditionFailure("rebuilt datagram does not parse")
        }
        precondition(reparsed.checksum != 0, "a computed zero checksum must be sent as 0xFFFF")
        if family == 0 {
            precondition(reparsed.isChecksumValid(source: v4Source, destination: v4Destination))
        } else {
            precondition(reparsed.isChecksumValid(source: v6Source, destination: v6Destination))
        }
        precondition(UDPHeader(reparsed) == header && reparsed.payload.elementsEqual(datagram.payload))
    }
    return 0
}
