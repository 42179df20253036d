import Wire

/// ICMPv4Message/ICMPv6Message and the ICMPv4/ICMPv6 message enums: parsing never traps; a parsed
/// message emitted again parses back to the same message with a valid checksum; the quoted packet
/// of an error is handed to the IP parsers, as a stack would.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 8), alignment: 8)
    defer { output.deallocate() }

    if let view = try? ICMPv4Message(validating: input), let message = try? ICMPv4(view) {
        precondition(message.length == size && message.type == view.type)
        guard let written = try? message.emit(into: output), written == size,
              let reparsedView = try? ICMPv4Message(validating: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(output)[0..<written])),
              let reparsed = try? ICMPv4(reparsedView)
        else { preconditionFailure("ICMPv4 round trip failed") }
        precondition(reparsedView.isChecksumValid && reparsed == message, "ICMPv4 message changed in the round trip")
        if view.type.isError { _ = try? IPv4Packet(validating: view.invokingPacket) }
    }

    let source = IPv6Address(high: 0xFD7A_115C_A1E0_0000, low: 1)
    let destination = IPv6Address(high: 0xFD7A_115C_A1E0_0000, low: 2)
    if let view = try? ICMPv6Message(validating: input), let message = try? ICMPv6(view) {
        _ = view.isChecksumValid(source: source, destination: destination)
        precondition(message.length == size && message.type == view.type)
        guard let written = try? message.emit(into: output, source: source, destination: destination), written == size,
              let reparsedView = try? ICMPv6Message(validating: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(output)[0..<written])),
              let reparsed = try? ICMPv6(reparsedView)
        else { preconditionFailure("ICMPv6 round trip failed") }
        precondition(reparsedView.isChecksumValid(source: source, destination: destination) && reparsed == message,
                     "ICMPv6 message changed in the round trip")
        if view.type.isError { _ = try? IPv6Packet(validating: view.invokingPacket) }
    }
    return 0
}
