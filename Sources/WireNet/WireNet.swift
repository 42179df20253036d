// The public API (Node, TCPListener, TCPStream, PacketConn) lives here (see Docs/architecture.md).
