package derp

import "net"

// register makes c the active connection of its key. An earlier connection
// with the same key is replaced: it is closed, and its departure is not
// reported as the key leaving. It returns false if the relay is closed.
func (s *Server) register(c *client) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	old := s.clients[c.key]
	s.clients[c.key] = c
	s.conns[c] = struct{}{}
	s.broadcastPresenceLocked(c, true)
	s.mu.Unlock()
	if old != nil {
		s.counters.replaced.Add(1)
		s.logf("derp: %v connected again from %v; closing the connection from %v", c.key, c.nc.RemoteAddr(), old.nc.RemoteAddr())
		old.close()
	}
	return true
}

// unregister removes c. If c was still the active connection of its key, the
// key has left: clients that exchanged packets with it and mesh watchers get
// PeerGone(disconnected).
func (s *Server) unregister(c *client) {
	c.close()
	c.drainQueues()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	delete(s.meshWatchers, c)
	for k := range c.watching {
		if set := s.goneWatchers[k]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(s.goneWatchers, k)
			}
		}
	}
	if s.clients[c.key] != c {
		return // replaced by a newer connection with the same key
	}
	delete(s.clients, c.key)
	for w := range s.goneWatchers[c.key] {
		if _, mesh := s.meshWatchers[w]; !mesh { // mesh watchers hear it below
			w.queueControl(FramePeerGone, peerGonePayload(c.key, PeerGoneDisconnected))
			s.counters.peerGoneDisconnected.Add(1)
		}
	}
	delete(s.goneWatchers, c.key)
	s.broadcastPresenceLocked(c, false)
}

// lookup returns the active connection of k, or nil.
func (s *Server) lookup(k Key) *client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[k]
}

// clientCount is the number of connected keys.
func (s *Server) clientCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// noteExchange records that a packet went from src to dst, so that each is
// told PeerGone(disconnected) when the other leaves. Tailscale's relay tells
// the receiver about a departed sender; telling the sender about a departed
// receiver too costs nothing and lets it stop sending into the void.
func (s *Server) noteExchange(src, dst *client) {
	if src == dst {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchLocked(dst, src.key)
	s.watchLocked(src, dst.key)
}

// watchLocked adds w to the clients told when k leaves. Both must still be
// here: an entry for a departed key or watcher would never be removed.
func (s *Server) watchLocked(w *client, k Key) {
	if _, ok := w.watching[k]; ok {
		return
	}
	if _, live := s.conns[w]; !live {
		return
	}
	if _, here := s.clients[k]; !here {
		return
	}
	set := s.goneWatchers[k]
	if set == nil {
		set = make(map[*client]struct{})
		s.goneWatchers[k] = set
	}
	set[w] = struct{}{}
	w.watching[k] = struct{}{}
}

// addMeshWatcher subscribes w to presence changes and tells it who is here now.
func (s *Server) addMeshWatcher(w *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, live := s.conns[w]; !live {
		return
	}
	s.meshWatchers[w] = struct{}{}
	for k, c := range s.clients {
		if c != w {
			w.queueControl(FramePeerPresent, peerPresentPayload(k, c.remoteAddr, c.presentFlags()))
			s.counters.peerPresent.Add(1)
		}
	}
}

// broadcastPresenceLocked tells mesh watchers that k arrived or left.
func (s *Server) broadcastPresenceLocked(c *client, present bool) {
	for w := range s.meshWatchers {
		if w.key == c.key {
			continue
		}
		if present {
			w.queueControl(FramePeerPresent, peerPresentPayload(c.key, c.remoteAddr, c.presentFlags()))
			s.counters.peerPresent.Add(1)
		} else {
			w.queueControl(FramePeerGone, peerGonePayload(c.key, PeerGoneDisconnected))
			s.counters.peerGoneDisconnected.Add(1)
		}
	}
}

// PeerPresent flags (derp.go PeerPresentFlags).
const (
	peerPresentIsRegular  = 1 << 0
	peerPresentIsMeshPeer = 1 << 1
	peerPresentIsProber   = 1 << 2
)

// peerPresentPayload is key + 16-byte IP + u16be port + flags.
func peerPresentPayload(k Key, addr *net.TCPAddr, flags byte) []byte {
	b := make([]byte, peerPresentLen)
	copy(b, k[:])
	if addr != nil {
		if ip16 := addr.IP.To16(); ip16 != nil {
			copy(b[keyLen:], ip16)
		}
		b[keyLen+16] = byte(addr.Port >> 8)
		b[keyLen+17] = byte(addr.Port)
	}
	b[keyLen+18] = flags
	return b
}
