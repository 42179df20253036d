package derp

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/nacl/box"
)

// Server is a DERP relay. Create one with [NewServer], mount it at /derp of an
// HTTP server (its ServeHTTP hijacks the connection), and Close it when done.
//
// The exported tunables must be set before the first connection; zero means
// the default.
type Server struct {
	// KeepAliveInterval is how often each client gets a KeepAlive frame
	// (default [DefaultKeepAliveInterval]).
	KeepAliveInterval time.Duration
	// HandshakeTimeout bounds the time from the upgrade to a verified
	// ClientInfo (default [DefaultHandshakeTimeout]).
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to a client; a client that does not read
	// for that long is disconnected (default [DefaultWriteTimeout]).
	WriteTimeout time.Duration
	// SendQueueDepth is the per-client packet queue length (WireGuard and
	// disco packets each have one); when full, the oldest packet is dropped
	// and counted (default [DefaultSendQueueDepth]).
	SendQueueDepth int
	// MeshKey, when non-empty, lets clients presenting it in ClientInfo send
	// WatchConns and receive PeerPresent/PeerGone for every client.
	MeshKey string

	logf    func(format string, args ...any)
	private [32]byte
	public  Key

	counters counters

	mu     sync.Mutex
	closed bool
	// clients holds the active connection of each key.
	clients map[Key]*client
	// conns holds every live connection, including replaced ones still
	// shutting down, so Close can end them all.
	conns map[*client]struct{}
	// goneWatchers[k] are the clients to tell PeerGone(k, disconnected) when
	// k leaves: those that exchanged packets with k through this relay.
	goneWatchers map[Key]map[*client]struct{}
	// meshWatchers get PeerPresent/PeerGone for every key.
	meshWatchers map[*client]struct{}
}

// NewServer returns a relay with a fresh Curve25519 key. logf receives
// connection-level events; nil discards them.
func NewServer(logf func(format string, args ...any)) *Server {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		// crypto/rand failing means the system cannot make keys at all.
		panic(fmt.Sprintf("derp: generating the relay key: %v", err))
	}
	return &Server{
		logf:         logf,
		private:      *priv,
		public:       Key(*pub),
		clients:      make(map[Key]*client),
		conns:        make(map[*client]struct{}),
		goneWatchers: make(map[Key]map[*client]struct{}),
		meshWatchers: make(map[*client]struct{}),
	}
}

// PublicKey is the relay's Curve25519 public key, sent in the ServerKey frame
// and the Derp-Public-Key header.
func (s *Server) PublicKey() [32]byte { return s.public }

// Close disconnects every client and refuses new ones. It does not close the
// listener the relay is served on.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*client, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	return nil
}

// ServeHTTP answers GET /derp with "Upgrade: DERP": it hijacks the connection,
// answers 101 Switching Protocols (unless the client asked for
// Derp-Fast-Start), and runs the DERP protocol until the client leaves.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "derp") {
		http.Error(w, "DERP requires connection upgrade", http.StatusUpgradeRequired)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "DERP upgrade must be a GET", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		http.Error(w, "DERP relay closed", http.StatusServiceUnavailable)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection cannot be hijacked", http.StatusInternalServerError)
		return
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		s.logf("derp: hijack: %v", err)
		return
	}
	s.counters.accepted.Add(1)
	if r.TLS != nil {
		s.counters.acceptedTLS.Add(1)
	}
	if r.Header.Get(fastStartHeader) != "1" {
		fmt.Fprintf(brw.Writer, "HTTP/1.1 101 Switching Protocols\r\n"+
			"Upgrade: DERP\r\n"+
			"Connection: Upgrade\r\n"+
			"%s: %d\r\n"+
			"%s: %s\r\n\r\n",
			versionHeader, protocolVersion, publicKeyHeader, hex.EncodeToString(s.public[:]))
	}
	// The 101 and the ServerKey frame go out together in the first flush.
	if err := s.serveConn(nc, brw.Reader, brw.Writer); err != nil {
		s.logf("derp: %s: %v", nc.RemoteAddr(), err)
	}
}

// serveConn runs one upgraded connection: handshake, then frames until it ends.
func (s *Server) serveConn(nc net.Conn, br *bufio.Reader, bw *bufio.Writer) error {
	defer nc.Close()
	handshakeTimeout := orDefault(s.HandshakeTimeout, DefaultHandshakeTimeout)
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := writeFrame(bw, FrameServerKey, serverKeyFrame(s.public)); err != nil {
		s.counters.handshakeFailures.Add(1)
		return err
	}
	if err := bw.Flush(); err != nil {
		s.counters.handshakeFailures.Add(1)
		return err
	}
	key, info, err := readClientInfo(br, &s.private)
	if err != nil {
		s.counters.handshakeFailures.Add(1)
		return fmt.Errorf("handshake: %w", err)
	}
	// Register before ServerInfo: once a client has it, packets sent to it
	// must find it (derpserver.go accept does the same).
	c := newClient(s, nc, key, info, br, bw)
	if !s.register(c) {
		return errors.New("relay closed")
	}
	defer s.unregister(c)
	sealed, err := serverInfoFrame(&s.private, key)
	if err != nil {
		return err
	}
	if err := writeFrame(bw, FrameServerInfo, sealed); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_ = nc.SetDeadline(time.Time{})
	return c.run()
}

// isMeshPeer reports whether info carries the configured mesh key.
func (s *Server) isMeshPeer(info ClientInfo) bool {
	return s.MeshKey != "" &&
		subtle.ConstantTimeCompare([]byte(info.MeshKey), []byte(s.MeshKey)) == 1
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
