package derp

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
)

// DropReason says why a packet was not relayed.
type DropReason int

const (
	// DropUnknownDestination: no client with the destination key is connected.
	DropUnknownDestination DropReason = iota
	// DropQueueFull: the destination's send queue was full (slow client).
	DropQueueFull
	// DropDestinationGone: the destination left while the packet was queued.
	DropDestinationGone
	// DropWriteError: writing the packet to the destination failed.
	DropWriteError
	dropReasonCount
)

var dropReasonNames = [dropReasonCount]string{
	DropUnknownDestination: "unknown_dest",
	DropQueueFull:          "queue_full",
	DropDestinationGone:    "dest_gone",
	DropWriteError:         "write_error",
}

// String is the reason's name in [Stats.Dropped].
func (r DropReason) String() string {
	if r >= 0 && r < dropReasonCount {
		return dropReasonNames[r]
	}
	return "invalid"
}

// counters are the relay's monotonically increasing event counts.
type counters struct {
	accepted, acceptedTLS                 atomic.Uint64
	handshakeFailures, replaced           atomic.Uint64
	packetsReceived, discoReceived        atomic.Uint64
	packetsRelayed                        atomic.Uint64
	bytesRelayed                          atomic.Uint64
	dropped                               [dropReasonCount]atomic.Uint64
	peerGoneDisconnected, peerGoneNotHere atomic.Uint64
	peerPresent, controlDropped           atomic.Uint64
	pings, pongsDropped, unknownFrames    atomic.Uint64
	keepAlives, protocolErrors            atomic.Uint64
}

// Stats is a snapshot of the relay's counters.
type Stats struct {
	// ClientsConnected is the number of keys connected now.
	ClientsConnected int `json:"clientsConnected"`
	// Accepted counts /derp upgrades (AcceptedTLS those over TLS); HandshakeFailures those that did not
	// complete the ClientInfo handshake; Replaced connections closed because
	// the same key connected again.
	Accepted          uint64 `json:"accepted"`
	AcceptedTLS       uint64 `json:"acceptedTLS"`
	HandshakeFailures uint64 `json:"handshakeFailures"`
	Replaced          uint64 `json:"replaced"`
	// PacketsReceived counts SendPacket frames (DiscoReceived those carrying
	// disco rather than WireGuard); PacketsRelayed the RecvPacket
	// frames written; BytesRelayed their packet bytes.
	PacketsReceived uint64 `json:"packetsReceived"`
	DiscoReceived   uint64 `json:"discoReceived"`
	PacketsRelayed  uint64 `json:"packetsRelayed"`
	BytesRelayed    uint64 `json:"bytesRelayed"`
	// Dropped counts packets not relayed, by [DropReason] name.
	Dropped map[string]uint64 `json:"dropped"`
	// PeerGoneDisconnected / PeerGoneNotHere / PeerPresent count frames queued.
	PeerGoneDisconnected uint64 `json:"peerGoneDisconnected"`
	PeerGoneNotHere      uint64 `json:"peerGoneNotHere"`
	PeerPresent          uint64 `json:"peerPresent"`
	// ControlDropped counts PeerGone/PeerPresent frames dropped because the
	// client's control queue was full.
	ControlDropped uint64 `json:"controlDropped"`
	// Pings received; PongsDropped when a client pings faster than it reads.
	Pings        uint64 `json:"pings"`
	PongsDropped uint64 `json:"pongsDropped"`
	// UnknownFrames skipped; KeepAlives sent; ProtocolErrors that closed a client.
	UnknownFrames  uint64 `json:"unknownFrames"`
	KeepAlives     uint64 `json:"keepAlives"`
	ProtocolErrors uint64 `json:"protocolErrors"`
}

// Stats returns a snapshot of the relay's counters.
func (s *Server) Stats() Stats {
	c := &s.counters
	st := Stats{
		ClientsConnected:     s.clientCount(),
		Accepted:             c.accepted.Load(),
		AcceptedTLS:          c.acceptedTLS.Load(),
		DiscoReceived:        c.discoReceived.Load(),
		HandshakeFailures:    c.handshakeFailures.Load(),
		Replaced:             c.replaced.Load(),
		PacketsReceived:      c.packetsReceived.Load(),
		PacketsRelayed:       c.packetsRelayed.Load(),
		BytesRelayed:         c.bytesRelayed.Load(),
		Dropped:              make(map[string]uint64, dropReasonCount),
		PeerGoneDisconnected: c.peerGoneDisconnected.Load(),
		PeerGoneNotHere:      c.peerGoneNotHere.Load(),
		PeerPresent:          c.peerPresent.Load(),
		ControlDropped:       c.controlDropped.Load(),
		Pings:                c.pings.Load(),
		PongsDropped:         c.pongsDropped.Load(),
		UnknownFrames:        c.unknownFrames.Load(),
		KeepAlives:           c.keepAlives.Load(),
		ProtocolErrors:       c.protocolErrors.Load(),
	}
	for r := DropReason(0); r < dropReasonCount; r++ {
		st.Dropped[r.String()] = c.dropped[r].Load()
	}
	return st
}

// StatsHandler serves [Server.Stats] as JSON, e.g. at /derp/stats.
func (s *Server) StatsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
}

func (s *Server) recordDrop(r DropReason) { s.counters.dropped[r].Add(1) }
