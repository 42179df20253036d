package main

// The HTTP side: GET /key, the POST /ts2021 upgrade to Noise with HTTP/2 inside, the
// /machine/* handlers behind it, and the loopback-only admin endpoints under /test/.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http2"
)

const (
	upgradeProtocol     = "tailscale-control-protocol" // controlhttpcommon.UpgradeHeaderValue
	handshakeHeaderName = "X-Tailscale-Handshake"      // controlhttpcommon.HandshakeHeaderName
)

type controlServer struct {
	tailnet     *Tailnet
	noiseKey    MachinePrivate
	legacyKey   MachinePrivate
	mapSettings mapSettings
	logf        func(string, ...interface{})
	// reloadPolicy re-reads --policy (POST /test/policy/reload); nil without --policy.
	reloadPolicy func() error
	// extra handles paths this server does not (the DERP relay at /derp, once wired).
	extra map[string]http.Handler
}

type machineKeyContextKey struct{}

func (s *controlServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/key":
		s.serveKey(w, r)
	case r.URL.Path == "/ts2021":
		s.serveUpgrade(w, r)
	case strings.HasPrefix(r.URL.Path, "/test/"):
		s.serveAdmin(w, r)
	case r.URL.Path == "/":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("WireNet test control server (Tailscale ts2021 protocol)\n"))
	default:
		if h := s.extra[r.URL.Path]; h != nil {
			h.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}
}

// serveKey answers GET /key?v=N with the Noise key (tailscale's OverTLSPublicKeyResponse);
// without v, old clients get the legacy key as bare hex text.
func (s *controlServer) serveKey(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "GET required", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Query().Get("v") == "" {
		w.Header().Set("Content-Type", "text/plain")
		legacy := s.legacyKey.Public()
		w.Write(legacy.text("")) // untyped hex
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(KeyResponse{LegacyPublicKey: s.legacyKey.Public(), PublicKey: s.noiseKey.Public()})
}

// serveUpgrade turns POST /ts2021 into a Noise connection carrying HTTP/2.
func (s *controlServer) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		http.Error(w, "POST required", http.StatusMethodNotAllowed)
		return
	}
	if up := strings.ToLower(r.Header.Get("Upgrade")); up != upgradeProtocol {
		http.Error(w, "Upgrade: "+upgradeProtocol+" required", http.StatusBadRequest)
		return
	}
	init, err := base64.StdEncoding.DecodeString(r.Header.Get(handshakeHeaderName))
	if err != nil || len(init) == 0 {
		http.Error(w, "missing or invalid "+handshakeHeaderName+" header", http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "the upgrade needs HTTP/1.1", http.StatusBadRequest)
		return
	}
	raw, brw, err := hj.Hijack()
	if err != nil {
		s.logf("ts2021 from %s: hijack: %v", r.RemoteAddr, err)
		return
	}
	raw.SetDeadline(time.Time{}) // whatever the HTTP server had set for the request
	conn := &bufferedConn{Conn: raw, r: brw.Reader}
	response, nc, err := noiseAccept(conn, s.noiseKey, init)
	if err != nil {
		s.logf("ts2021 from %s: %v", r.RemoteAddr, err)
		msg := "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nnoise handshake refused\n"
		raw.SetWriteDeadline(time.Now().Add(noiseHandshakeTimeout))
		raw.Write([]byte(msg))
		raw.Close()
		return
	}
	// The 101 and the Noise response go out in one write.
	out := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + upgradeProtocol + "\r\nConnection: upgrade\r\n\r\n")
	out = append(out, response...)
	raw.SetWriteDeadline(time.Now().Add(noiseHandshakeTimeout))
	if _, err := raw.Write(out); err != nil {
		raw.Close()
		return
	}
	raw.SetWriteDeadline(time.Time{})
	defer nc.Close()

	ctx := context.WithValue(context.Background(), machineKeyContextKey{}, nc.peer)
	h2 := &http2.Server{IdleTimeout: 10 * time.Minute, MaxReadFrameSize: 1 << 20}
	h2.ServeConn(nc, &http2.ServeConnOpts{
		Context:    ctx,
		Handler:    http.HandlerFunc(s.serveMachine),
		BaseConfig: &http.Server{ReadHeaderTimeout: 30 * time.Second},
	})
}

// bufferedConn reads what the HTTP server had buffered before the connection was hijacked.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r != nil && c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}

// serveMachine handles the requests inside the Noise connection.
func (s *controlServer) serveMachine(w http.ResponseWriter, r *http.Request) {
	machine, ok := r.Context().Value(machineKeyContextKey{}).(MachinePublic)
	if !ok {
		http.Error(w, "no machine key", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST required", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/machine/register":
		var req RegisterRequest
		if err := readJSONBody(r, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res := s.tailnet.register(machine, &req, time.Now())
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&res)
	case "/machine/map":
		s.serveMap(w, r, machine)
	case "/machine/update-health", "/machine/set-dns", "/machine/id-token", "/machine/audit-log":
		// Accepted and ignored: this server keeps no health, DNS-01 or audit state.
		readJSONBody(r, &json.RawMessage{})
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}
