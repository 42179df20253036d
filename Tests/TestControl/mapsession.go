package main

// POST /machine/map: endpoint updates, one-shot maps, and the long-poll stream of a full map
// followed by deltas (tailscale's control/controlclient/map.go applies them).

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/netip"
	"time"

	"github.com/klauspost/compress/zstd"
)

// sentPeer is what a map stream last told its client about one peer.
type sentPeer struct {
	version       uint64
	structVersion uint64
	endpointCount int
}

// mapView is the client's picture of the tailnet as one map stream has drawn it so far.
type mapView struct {
	self          int64
	started       bool
	selfVersion   uint64
	policyVersion uint64
	peers         map[int64]sentPeer
}

// nextMapLocked returns the message that brings v up to date (the full map the first time),
// or nil when nothing changed, and the channel that closes on the next change.
// gone is true when the node no longer exists or logged out.
func (t *Tailnet) nextMapLocked(v *mapView) (msg *MapResponse, changed <-chan struct{}, gone bool) {
	changed = t.changed
	self := t.nodes[v.self]
	if self == nil || self.LoggedOut {
		return nil, changed, true
	}
	msg = &MapResponse{}
	if !v.started {
		v.started = true
		v.peers = map[int64]sentPeer{}
		now := time.Now().UTC().Truncate(time.Second)
		msg.ControlTime = &now
		msg.Domain = t.cfg.Domain
		msg.DERPMap = t.cfg.DERPMap
		msg.DNSConfig = &DNSConfig{Domains: []string{t.cfg.Domain}}
		msg.UserProfiles = t.userProfiles()
		peers := t.visiblePeersLocked(v.self)
		msg.Peers = make([]*Node, 0, len(peers))
		for _, p := range peers {
			msg.Peers = append(msg.Peers, t.wireNodeLocked(p))
			v.peers[p.ID] = sentPeer{p.version, p.structVersion, len(p.Endpoints)}
		}
	} else {
		t.peerDeltaLocked(v, msg)
	}
	if v.selfVersion != self.version {
		v.selfVersion = self.version
		msg.Node = t.wireNodeLocked(self)
	}
	if v.policyVersion != t.policyVersion {
		v.policyVersion = t.policyVersion
		rules := append(make([]FilterRule, 0, len(t.policy)), t.policy...)
		msg.PacketFilter = &rules
	}
	if msg.isEmptyDelta() {
		return nil, changed, false
	}
	return msg, changed, false
}

// peerDeltaLocked fills msg with the peers added, changed and removed since v was drawn.
func (t *Tailnet) peerDeltaLocked(v *mapView, msg *MapResponse) {
	seen := make(map[int64]bool, len(v.peers))
	for _, p := range t.visiblePeersLocked(v.self) {
		seen[p.ID] = true
		prev, known := v.peers[p.ID]
		if known && prev.version == p.version {
			continue
		}
		v.peers[p.ID] = sentPeer{p.version, p.structVersion, len(p.Endpoints)}
		// A patch cannot say "no endpoints any more" (omitted means unchanged): send the node.
		if !known || prev.structVersion != p.structVersion || (len(p.Endpoints) == 0 && prev.endpointCount > 0) {
			msg.PeersChanged = append(msg.PeersChanged, t.wireNodeLocked(p))
			continue
		}
		online := p.online
		patch := &PeerChange{NodeID: p.ID, DERPRegion: p.HomeDERP, Online: &online,
			Endpoints: append([]netip.AddrPort(nil), p.Endpoints...)}
		if !p.Disco.isZero() {
			d := p.Disco
			patch.DiscoKey = &d
		}
		if !p.LastSeen.IsZero() {
			ls := p.LastSeen
			patch.LastSeen = &ls
		}
		msg.PeersChangedPatch = append(msg.PeersChangedPatch, patch)
	}
	for id := range v.peers {
		if !seen[id] {
			delete(v.peers, id)
			msg.PeersRemoved = append(msg.PeersRemoved, id)
		}
	}
}

// applyMapRequest records the endpoints, disco key and Hostinfo a map request carries. A
// streaming poll from a Go client (capability version >= 68) carries zero values there and the
// real ones in separate non-streaming requests, so zero values from a stream never overwrite.
func (t *Tailnet) applyMapRequestLocked(n *nodeRecord, req *MapRequest) {
	if req.ReadOnly {
		return
	}
	patchable, structural := false, false
	if !req.DiscoKey.isZero() && req.DiscoKey != n.Disco {
		n.Disco = req.DiscoKey
		patchable = true
	}
	if (!req.Stream || len(req.Endpoints) > 0) && !equalAddrPorts(n.Endpoints, req.Endpoints) {
		n.Endpoints = usableEndpoints(req.Endpoints)
		patchable = true
	}
	if len(req.Hostinfo) > 0 {
		if hi, ok := parseHostinfo(req.Hostinfo); ok {
			if string(n.Hostinfo) != string(req.Hostinfo) {
				n.Hostinfo = append(json.RawMessage(nil), req.Hostinfo...)
				structural = true
			}
			if hi.NetInfo != nil && hi.NetInfo.PreferredDERP != 0 && hi.NetInfo.PreferredDERP != n.HomeDERP {
				n.HomeDERP = hi.NetInfo.PreferredDERP
				patchable = true
			}
			if t.setRequestedHostnameLocked(n, hi.Hostname) {
				structural = true
			}
		}
	}
	if req.Version != 0 {
		n.Cap = req.Version
	}
	if patchable || structural {
		t.touchLocked(n, structural)
		t.notifyLocked()
	}
}

// usableEndpoints drops what a peer cannot dial: zoned and IPv6 link-local addresses (as
// tailscale's testcontrol filters them), invalid addresses and port 0.
func usableEndpoints(eps []netip.AddrPort) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(eps))
	for _, ep := range eps {
		a := ep.Addr()
		if !a.IsValid() || ep.Port() == 0 || a.Zone() != "" || (a.Is6() && a.IsLinkLocalUnicast()) {
			continue
		}
		out = append(out, ep)
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

func equalAddrPorts(a, b []netip.AddrPort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// startStreamLocked makes a new stream n's current one and marks n online.
func (t *Tailnet) startStreamLocked(n *nodeRecord) uint64 {
	t.streamClock++
	n.streamGen = t.streamClock
	if !n.online {
		n.online = true
		t.cfg.Logf("node %d (%s) online: map stream opened", n.ID, n.Hostname)
		t.touchLocked(n, false)
	}
	t.notifyLocked() // also ends an older stream of the same node
	return n.streamGen
}

// endStream marks the node offline if gen is still its current stream, and schedules the
// removal of an ephemeral node.
func (t *Tailnet) endStream(id int64, gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[id]
	if n == nil || n.streamGen != gen {
		return
	}
	n.online = false
	n.LastSeen = time.Now().UTC().Truncate(time.Second)
	t.cfg.Logf("node %d (%s) went offline: its map stream ended", n.ID, n.Hostname)
	t.touchLocked(n, false)
	t.notifyLocked()
	t.scheduleEphemeralRemovalLocked(n)
}

// mapWriter frames messages as tailscale's map poll expects: u32 little-endian length, then the
// JSON, zstd-compressed when the client asked for it.
type mapWriter struct {
	w        http.ResponseWriter
	compress bool
}

var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))

func (m *mapWriter) send(v interface{}) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if m.compress {
		body = zstdEncoder.EncodeAll(body, nil)
	}
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(body)))
	if _, err := m.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := m.w.Write(body); err != nil {
		return err
	}
	if f, ok := m.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

var keepAliveMessage = &MapResponse{KeepAlive: true}

// mapSettings are the server flags that shape map streams.
type mapSettings struct {
	KeepAlive       time.Duration // base interval between keep-alives
	KeepAliveJitter time.Duration // a random extra in [0, jitter)
}

// serveMap handles one /machine/map request from machine.
func (s *controlServer) serveMap(w http.ResponseWriter, r *http.Request, machine MachinePublic) {
	var req MapRequest
	if err := readJSONBody(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	t := s.tailnet
	t.mu.Lock()
	n, err := t.nodeForMachineLocked(req.NodeKey, machine)
	if err != nil {
		t.mu.Unlock()
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	t.applyMapRequestLocked(n, &req)
	view := &mapView{self: n.ID}
	var gen uint64
	streaming := req.Stream && !req.ReadOnly
	if streaming {
		gen = t.startStreamLocked(n)
	}
	msg, changed, _ := t.nextMapLocked(view)
	t.mu.Unlock()

	mw := &mapWriter{w: w, compress: req.Compress == "zstd"}
	w.Header().Set("Content-Type", "application/octet-stream")
	if !streaming {
		if req.OmitPeers {
			msg.Peers = nil
		}
		_ = mw.send(msg)
		return
	}
	defer t.endStream(n.ID, gen)
	if err := mw.send(msg); err != nil {
		return
	}
	s.streamDeltas(r.Context(), mw, view, gen, changed, req.KeepAlive)
}

// streamDeltas sends deltas as the tailnet changes, and keep-alives, until the client goes away,
// a newer stream of the same node replaces this one, or the node is removed.
func (s *controlServer) streamDeltas(ctx context.Context, mw *mapWriter, view *mapView, gen uint64, changed <-chan struct{}, keepAlive bool) {
	t := s.tailnet
	var keepAliveC <-chan time.Time
	newTimer := func() *time.Timer {
		d := s.mapSettings.KeepAlive
		if s.mapSettings.KeepAliveJitter > 0 {
			d += time.Duration(rand.Int63n(int64(s.mapSettings.KeepAliveJitter)))
		}
		return time.NewTimer(d)
	}
	var timer *time.Timer
	if keepAlive && s.mapSettings.KeepAlive > 0 {
		timer = newTimer()
		defer func() { timer.Stop() }()
		keepAliveC = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepAliveC:
			if err := mw.send(keepAliveMessage); err != nil {
				return
			}
			timer = newTimer()
			keepAliveC = timer.C
		case <-changed:
			t.mu.Lock()
			if n := t.nodes[view.self]; n == nil || n.streamGen != gen {
				t.mu.Unlock()
				return // removed, or replaced by a newer stream of the same node
			}
			msg, next, gone := t.nextMapLocked(view)
			t.mu.Unlock()
			changed = next
			if gone {
				return
			}
			if msg != nil {
				if err := mw.send(msg); err != nil {
					return
				}
			}
		}
	}
}

// maxRequestBody bounds every request body (tailscale's testcontrol uses 1 MiB, msgLimit).
const maxRequestBody = 1 << 20

func readJSONBody(r *http.Request, v interface{}) error {
	body := http.MaxBytesReader(nil, r.Body, maxRequestBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad %s request body: %v", r.URL.Path, err)
	}
	return nil
}
