import CWireNetShims
import Glibc

/// The outcome of a non-blocking system call: done with a value, or `EAGAIN`/`EWOULDBLOCK`.
/// Would-block is a normal outcome on a non-blocking socket, so it is a value and not an error.
enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

/// The one place where system calls are made: `EINTR` is retried here, `EAGAIN` is returned as
/// ``IOResult/wouldBlock``, every other failure is thrown as an ``Errno``.
enum SystemCall {
    /// Runs `body` (a call returning -1 and setting `errno` on failure) until it is not interrupted.
    @inline(__always)
    static func run<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> IOResult<T> {
        while true {
            let result = body()
            if result >= 0 { return .done(result) }
            let error = Errno.current
            switch error.rawValue {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw error
            }
        }
    }

    /// Like ``run(_:)`` for calls that must not report would-block (setup, `setsockopt`, `bind`).
    @inline(__always)
    static func require<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
        switch try run(body) {
        case .done(let value): return value
        case .wouldBlock: throw Errno.wouldBlock
        }
    }

    /// For liburing calls, which return `-errno` instead of setting `errno`.
    @inline(__always)
    static func uring(_ body: () -> CInt) throws(Errno) -> CInt {
        while true {
            let result = body()
            if result >= 0 { return result }
            if result == -EINTR { continue }
            throw Errno(rawValue: -result)
        }
    }

    /// Sets an integer socket option.
    static func setOption(_ fd: CInt, _ level: CInt, _ name: CInt, _ value: CInt) throws(Errno) {
        var value = value
        _ = try require {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<CInt>.size))
        }
    }

    /// Reads an integer socket option.
    static func option(_ fd: CInt, _ level: CInt, _ name: CInt) throws(Errno) -> CInt {
        var value: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        _ = try require { getsockopt(fd, level, name, &value, &length) }
        return value
    }

    /// Waits for `events` on the descriptors in `fds` (at most `timeout`, nil = forever).
    /// Returns the number of ready descriptors (0 on timeout); interruptions count as a timeout.
    static func poll(_ fds: UnsafeMutablePointer<pollfd>, count: Int, timeout: Duration?) throws(Errno) -> Int {
        let nanoseconds: Int64 = timeout.map { Int64(clamping: UDPTransport.nanoseconds($0)) } ?? -1
        let result = wirenet_ppoll(fds, UInt(count), nanoseconds)
        if result >= 0 { return Int(result) }
        let error = Errno.current
        if error.rawValue == EINTR { return 0 }
        throw error
    }
}
