import Wire

/// TCPSegment and TCPOptions: parsing never traps; TCPHeader(parsed) emitted with the same payload
/// parses back to the same header (SACK blocks may only be trimmed to what fits beside the other
/// options in the 40-byte area), with a valid checksum over both pseudo-headers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? TCPOptions(parsing: input)  // the option parser on its own, any length
    guard let segment = try? TCPSegment(validating: input) else { return 0 }
    precondition(segment.headerLength >= 20 && segment.headerLength <= 60 && segment.headerLength <= size)
    precondition(segment.payload.count == size - segment.headerLength)
    precondition(segment.options.sackBlocks.count <= TCPSACKBlocks.capacity)

    let header = TCPHeader(segment)
    precondition(header.length % 4 == 0 && header.length <= 60)
    let length = header.length + segment.payload.count
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 8)
    defer { output.deallocate() }
    UnsafeMutableRawBufferPointer(rebasing: output[header.length...]).copyMemory(from: segment.payload)
    let v4Source = IPv4Address(100, 64, 0, 1), v4Destination = IPv4Address(100, 64, 0, 2)
    let v6Source = IPv6Address(high: 0xFD7A_115C_A1E0_0000, low: 1)
    let v6Destination = IPv6Address(high: 0xFD7A_115C_A1E0_0000, low: 2)
    for family in 0..<2 {
        do {
            if family == 0 {
                try header.emit(into: output, source: v4Source, destination: v4Destination)
            } else {
                try header.emit(into: output, source: v6Source, destination: v6Destination)
            }
        } catch {
            preconditionFailure("emit failed for a parsed header: \(error)")
        }
        guard let reparsed = try? TCPSegment(validating: UnsafeRawBufferPointer(output)) else {
            preconditionFailure("rebuilt segment does not parse")
        }
        if family == 0 {
            precondition(reparsed.isChecksumValid(source: v4Source, destination: v4Destination))
        } else {
            precondition(reparsed.isChecksumValid(source: v6Source, destination: v6Destination))
        }
        var again = TCPHeader(reparsed)
        precondition(again.options.sackBlocks.elementsEqual(header.options.sackBlocks.prefix(again.options.sackBlocks.count)),
                     "SACK blocks changed beyond trimming")
        again.options.sackBlocks = header.options.sackBlocks
        precondition(again == header, "header fields changed in the round trip")
        precondition(reparsed.payload.elementsEqual(segment.payload))
    }
    return 0
}
