import NIOCore

/// The channel options a ``WireNetStreamChannel`` honours, and the socket-level ones it accepts and
/// ignores (SO_REUSEADDR, SO_KEEPALIVE and the like: the node's TCP has no host socket to set them
/// on): servers written for NIO's `ServerBootstrap` set those and must not fail here.
///
/// `TCP_NODELAY` (`ChannelOptions.tcpOption(.tcp_nodelay)`) is not stored here: it is the stream's
/// own setting (the node's TCP has Nagle's algorithm, RFC 1122 §4.2.3.4), which the channel sets and
/// reads through ``WireNet/TCPStream/setNoDelay(_:)`` (see ``noDelay(_:value:)``).
struct StreamChannelOptions {
    /// `TCP_NODELAY` at the TCP level, as NIO's socket channels take it.
    static let noDelayOption = ChannelOptions.Types.SocketOption(level: .tcp, name: .tcp_nodelay)

    /// Whether `option` is `TCP_NODELAY` (the stream's Nagle switch).
    static func isNoDelay<Option: ChannelOption>(_ option: Option) -> Bool {
        (option as? ChannelOptions.Types.SocketOption) == noDelayOption
    }

    /// The Nagle switch `value` asks for when `option` is `TCP_NODELAY` (non-zero: Nagle off), else nil.
    static func noDelay<Option: ChannelOption>(_ option: Option, value: Option.Value) -> Bool? {
        guard isNoDelay(option) else { return nil }
        return (value as! SocketOptionValue) != 0
    }

    var autoRead = true
    var allowRemoteHalfClosure = false
    /// NIO's socket channels' default (`ChannelOptions.Types.WriteBufferWaterMark`: 32 KiB / 64 KiB).
    var waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 * 1024, high: 64 * 1024)
    /// Largest read handed up in one `channelRead` (the receive allocator's size, when one is set).
    var readChunk = 64 * 1024
    private var maxMessagesPerRead: UInt = 1
    private var connectTimeout: TimeAmount? = nil
    private var socketOptions: [(ChannelOptions.Types.SocketOption, SocketOptionValue)] = []
    private var recvAllocator: any RecvByteBufferAllocator = AdaptiveRecvByteBufferAllocator()

    mutating func set<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
        switch option {
        case is ChannelOptions.Types.AutoReadOption:
            autoRead = value as! Bool
        case is ChannelOptions.Types.AllowRemoteHalfClosureOption:
            allowRemoteHalfClosure = value as! Bool
        case is ChannelOptions.Types.WriteBufferWaterMarkOption:
            waterMark = value as! ChannelOptions.Types.WriteBufferWaterMark
        case is ChannelOptions.Types.MaxMessagesPerReadOption:
            maxMessagesPerRead = value as! UInt
        case is ChannelOptions.Types.ConnectTimeoutOption:
            connectTimeout = value as? TimeAmount
        case let socketOption as ChannelOptions.Types.SocketOption:
            socketOptions.removeAll { $0.0 == socketOption }
            socketOptions.append((socketOption, value as! SocketOptionValue))
        case is ChannelOptions.Types.RecvAllocatorOption:
            recvAllocator = value as! any RecvByteBufferAllocator
        default:
            throw ChannelError.operationUnsupported
        }
    }

    func get<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
        switch option {
        case is ChannelOptions.Types.AutoReadOption: return autoRead as! Option.Value
        case is ChannelOptions.Types.AllowRemoteHalfClosureOption: return allowRemoteHalfClosure as! Option.Value
        case is ChannelOptions.Types.WriteBufferWaterMarkOption: return waterMark as! Option.Value
        case is ChannelOptions.Types.MaxMessagesPerReadOption: return maxMessagesPerRead as! Option.Value
        case is ChannelOptions.Types.ConnectTimeoutOption: return connectTimeout as! Option.Value
        case let socketOption as ChannelOptions.Types.SocketOption:
            return (socketOptions.last { $0.0 == socketOption }?.1 ?? 0) as! Option.Value
        case is ChannelOptions.Types.RecvAllocatorOption: return recvAllocator as! Option.Value
        default: throw ChannelError.operationUnsupported
        }
    }
}
