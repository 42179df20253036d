// Package derp is a DERP relay ("Designated Encrypted Relay for Packets") for
// the WireNet test control server: Tailscale-compatible clients that cannot
// reach each other over UDP send WireGuard and disco packets to it over one
// HTTP-upgraded TCP (or TLS) connection each, addressed by node public key.
//
// The wire format follows tailscale/tailscale derp/derp.go and the server
// behaviour derp/derpserver/derpserver.go (@de9ec7ee); the facts used are
// summarised in /work/shared/notes/tailscale-protocol.md §6.6 and §6.9.
//
// A relay is an [http.Handler] mounted at /derp. [NewSniffingListener] lets one
// port serve both TLS (which real clients always speak to a relay) and plain
// HTTP, and [SelfSignedTLSConfig] makes the certificate a test relay needs.
package derp

import "time"

// Protocol constants. Each is fixed by the wire protocol unless marked as an
// implementation choice.
const (
	// protocolVersion is what we announce in ServerInfo and Derp-Version
	// (derp.go ProtocolVersion = 2: RecvPacket carries the source key).
	protocolVersion = 2

	// magic opens the ServerKey frame: "DERP🔑", 8 bytes (derp.go Magic).
	magic = "DERP\xf0\x9f\x94\x91"

	// keyLen is the length of a Curve25519 node public key (derp.go KeyLen).
	keyLen = 32
	// nonceLen is the NaCl box nonce length (derp.go NonceLen).
	nonceLen = 24
	// boxOverhead is the Poly1305 tag NaCl box adds (nacl/box Overhead).
	boxOverhead = 16
	// frameHeaderLen is one type byte plus a big-endian u32 length (derp.go FrameHeaderLen).
	frameHeaderLen = 1 + 4

	// MaxPacketSize is the largest packet a client may send through the relay
	// (derp.go MaxPacketSize = 64 KiB). Longer SendPacket frames close the connection.
	MaxPacketSize = 64 << 10
	// maxInfoLen bounds ClientInfo (derp.go MaxInfoLen = 1 MiB).
	maxInfoLen = 1 << 20
	// maxFrameLen bounds any other frame, including unknown types that are
	// skipped: implementation choice, the largest frame the protocol defines.
	maxFrameLen = maxInfoLen

	// maxPingLen bounds a Ping body; Pong echoes its first 8 bytes
	// (derpserver.go handleFramePing: 8 to 1000 bytes).
	pingLen    = 8
	maxPingLen = 1000

	// discoMagic opens a disco packet: "TS💬", 6 bytes (disco/disco.go Magic).
	discoMagic = "TS\xf0\x9f\x92\xac"
	// discoMinLen is the shortest payload treated as disco: magic + sender
	// disco key + nonce (disco.go LooksLikeDiscoWrapper).
	discoMinLen = len(discoMagic) + keyLen + nonceLen

	// peerPresentLen is key + 16-byte IP + u16be port + flags byte (derp.go FramePeerPresent).
	peerPresentLen = keyLen + 16 + 2 + 1
)

// Defaults for the tunables on [Server].
const (
	// DefaultKeepAliveInterval is how often an idle client gets a KeepAlive
	// frame (derp.go KeepAlive = 60 s).
	DefaultKeepAliveInterval = 60 * time.Second
	// DefaultHandshakeTimeout bounds ServerKey → ClientInfo
	// (derpserver.go accept: 10 s deadline).
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds one frame write to a client before it is
	// considered dead (derpserver.go default tcpWriteTimeout = 2 s).
	DefaultWriteTimeout = 2 * time.Second
	// DefaultSendQueueDepth is how many packets wait for a client per queue
	// (derpserver.go perClientSendQueueDepth = 32). With 64 KiB packets this
	// bounds queued memory at 2 MiB per queue.
	DefaultSendQueueDepth = 32
	// controlQueueDepth bounds queued PeerGone/PeerPresent frames per client:
	// implementation choice; overflow is dropped and counted.
	controlQueueDepth = 256

	// Not-here PeerGone replies are limited per client to a burst of 3, then
	// one a second (derpserver.go peerGoneLim = rate.Every(time.Second), 3).
	notHereBurst    = 3
	notHereInterval = time.Second
)

// FrameType is the first byte of every DERP frame (derp.go FrameType).
type FrameType byte

// Frame types (derp.go).
const (
	FrameServerKey     FrameType = 0x01 // 8 B magic + 32 B server public key
	FrameClientInfo    FrameType = 0x02 // 32 B client key + 24 B nonce + box(JSON ClientInfo)
	FrameServerInfo    FrameType = 0x03 // 24 B nonce + box(JSON ServerInfo)
	FrameSendPacket    FrameType = 0x04 // 32 B destination key + packet
	FrameRecvPacket    FrameType = 0x05 // v2: 32 B source key + packet
	FrameKeepAlive     FrameType = 0x06 // empty
	FrameNotePreferred FrameType = 0x07 // 1 B: whether this is the client's home relay
	FramePeerGone      FrameType = 0x08 // 32 B key + 1 B reason
	FramePeerPresent   FrameType = 0x09 // 32 B key + 16 B IP + 2 B port + 1 B flags
	FrameForwardPacket FrameType = 0x0a // mesh only: 32 B src + 32 B dst + packet
	FrameWatchConns    FrameType = 0x10 // mesh only: subscribe to PeerPresent/PeerGone
	FrameClosePeer     FrameType = 0x11 // mesh only: 32 B key to disconnect
	FramePing          FrameType = 0x12 // 8 B (up to 1000 B) payload
	FramePong          FrameType = 0x13 // 8 B echo of a Ping
	FrameHealth        FrameType = 0x14 // text
	FrameRestarting    FrameType = 0x15 // 2 × u32be milliseconds
)

// PeerGoneReason is the reason byte of a PeerGone frame (derp.go PeerGoneReasonType).
type PeerGoneReason byte

const (
	// PeerGoneDisconnected: the peer was connected here and left.
	PeerGoneDisconnected PeerGoneReason = 0x00
	// PeerGoneNotHere: the destination of a (disco) packet is not connected.
	PeerGoneNotHere PeerGoneReason = 0x01
)

// Header names of the /derp upgrade (derp.go, derpserver/handler.go).
const (
	fastStartHeader = "Derp-Fast-Start"
	versionHeader   = "Derp-Version"
	publicKeyHeader = "Derp-Public-Key"
)
