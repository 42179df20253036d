package control

// A scripted control server (Noise responder from package noisetest, HTTP/2 from x/net) that
// answers with malformed and hostile responses: the client must turn each into a state event —
// never a panic, a hang or unbounded memory.

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"wirenet/Sources/ControlHelper/netmap"
	"wirenet/Sources/ControlHelper/noise"
	"wirenet/Sources/ControlHelper/noise/noisetest"
)

// script says how the fake control answers.
type script struct {
	key          func(w http.ResponseWriter) // GET /key; nil: the real key
	noiseReply   []byte                      // raw bytes instead of the Noise response
	earlyPayload bool                        // send "\xff\xff\xffTS" + JSON before HTTP/2
	register     func(w http.ResponseWriter) // nil: {"MachineAuthorized": true}
	mapStream    func(w http.ResponseWriter) // the streaming map body
	omitPeers    func(w http.ResponseWriter) // nil: an empty 200
}

type fakeControl struct {
	tls    *httptest.Server
	url    string
	priv   [32]byte
	pub    [32]byte
	script script
	ln     net.Listener
}

// startFakeControlTLS serves the same script over HTTPS with a self-signed certificate.
func startFakeControlTLS(t *testing.T, sc script) *fakeControl {
	t.Helper()
	fc := &fakeControl{script: sc}
	rand.Read(fc.priv[:])
	kp, _ := noise.NewKeyPair(fc.priv)
	fc.pub = kp.Public
	fc.tls = httptest.NewUnstartedServer(http.HandlerFunc(fc.serveHTTP))
	fc.tls.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted client's handshake errors
	fc.tls.StartTLS()
	t.Cleanup(fc.tls.Close)
	fc.url = fc.tls.URL
	return fc
}

func startFakeControl(t *testing.T, sc script) *fakeControl {
	t.Helper()
	fc := &fakeControl{script: sc}
	rand.Read(fc.priv[:])
	kp, _ := noise.NewKeyPair(fc.priv)
	fc.pub = kp.Public
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc.ln = ln
	fc.url = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(fc.serveHTTP)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return fc
}

func (fc *fakeControl) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/key":
		if fc.script.key != nil {
			fc.script.key(w)
			return
		}
		fmt.Fprintf(w, `{"legacyPublicKey":"mkey:%064d","publicKey":"mkey:%s"}`, 0, hex.EncodeToString(fc.pub[:]))
	case "/ts2021":
		init, err := base64.StdEncoding.DecodeString(r.Header.Get("X-Tailscale-Handshake"))
		if err != nil || r.Header.Get("Upgrade") != "tailscale-control-protocol" {
			http.Error(w, "bad upgrade", 400)
			return
		}
		var eph [32]byte
		rand.Read(eph[:])
		res, err := noisetest.Respond(fc.priv, fc.pub, eph, init)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		reply := res.Response
		if fc.script.noiseReply != nil {
			reply = fc.script.noiseReply
		}
		fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\n")
		conn.Write(reply)
		nc := noise.NewConn(conn, brw.Reader, res.Tx, res.Rx)
		if fc.script.earlyPayload {
			payload := []byte(`{"nodeKeyChallenge":"chalpub:0000000000000000000000000000000000000000000000000000000000000000"}`)
			hdr := append([]byte("\xff\xff\xffTS"), 0, 0, 0, 0)
			binary.BigEndian.PutUint32(hdr[5:], uint32(len(payload)))
			nc.Write(append(hdr, payload...))
		}
		(&http2.Server{}).ServeConn(nc, &http2.ServeConnOpts{Handler: http.HandlerFunc(fc.serveNoise)})
	default:
		http.NotFound(w, r)
	}
}

func (fc *fakeControl) serveNoise(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/machine/register":
		if fc.script.register != nil {
			fc.script.register(w)
			return
		}
		fmt.Fprint(w, `{"MachineAuthorized":true}`)
	case "/machine/map":
		body := make([]byte, 4096)
		n, _ := r.Body.Read(body)
		if strings.Contains(string(body[:n]), `"OmitPeers":true`) {
			if fc.script.omitPeers != nil {
				fc.script.omitPeers(w)
			}
			return
		}
		if fc.script.mapStream != nil {
			fc.script.mapStream(w)
		}
	default:
		http.NotFound(w, r)
	}
}

// writeFrames sends length-prefixed messages and flushes.
func writeFrames(w http.ResponseWriter, msgs ...[]byte) {
	for _, m := range msgs {
		w.Write(frame(m))
	}
	w.(http.Flusher).Flush()
}

func hold(w http.ResponseWriter) { time.Sleep(5 * time.Second) }

const goodFirstMap = `{"Node":{"ID":1,"Name":"h.test.","Addresses":["100.64.0.1/32"]},"Peers":[{"ID":2,"Name":"p.test.","Addresses":["100.64.0.2/32"]}]}`

func (n *node) lastState() StateEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.states) == 0 {
		return StateEvent{}
	}
	return n.states[len(n.states)-1]
}

func (n *node) waitForStateMessage(state, substring string) {
	n.t.Helper()
	n.waitFor(fmt.Sprintf("%s with %q", state, substring), 15*time.Second, func() bool {
		for _, s := range n.states {
			if s.State == state && strings.Contains(s.Message, substring) {
				return true
			}
		}
		return false
	})
}

func TestHostileControlResponsesBecomeStateEvents(t *testing.T) {
	cases := []struct {
		name, state, message string
		sc                   script
	}{
		{"key is not JSON", StateReconnecting, "publicKey", script{key: func(w http.ResponseWriter) { fmt.Fprint(w, "mkey:nothex") }}},
		{"key is a huge body", StateReconnecting, "larger than", script{key: func(w http.ResponseWriter) { w.Write(make([]byte, 2<<20)) }}},
		{"noise response forged", StateReconnecting, "does not authenticate", script{noiseReply: append(append([]byte{2, 0, 48, 9}, make([]byte, 31)...), make([]byte, 16)...)}},
		{"noise error message", StateReconnecting, "go away", script{noiseReply: []byte{3, 0, 7, 'g', 'o', ' ', 'a', 'w', 'a', 'y'}}},
		{"register wants interactive login", StateRefused, "interactive login", script{register: func(w http.ResponseWriter) { fmt.Fprint(w, `{"AuthURL":"https://login.example/a/123"}`) }}},
		{"register error", StateRefused, "key revoked", script{register: func(w http.ResponseWriter) { fmt.Fprint(w, `{"Error":"key revoked"}`) }}},
		{"register answer is garbage", StateReconnecting, "not a RegisterResponse", script{register: func(w http.ResponseWriter) { fmt.Fprint(w, `{"MachineAuthorized":"yes"`) }}},
		{"register 500", StateReconnecting, "HTTP 500", script{register: func(w http.ResponseWriter) { http.Error(w, "boom", 500) }}},
		{"map frame too large", StateReconnecting, "too large", script{mapStream: func(w http.ResponseWriter) {
			w.Write([]byte{0xff, 0xff, 0xff, 0xff})
			w.(http.Flusher).Flush()
			hold(w)
		}}},
		{"map frame is corrupt zstd", StateReconnecting, "zstd", script{mapStream: func(w http.ResponseWriter) {
			writeFrames(w, []byte{0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff, 0xff, 1, 2, 3})
			hold(w)
		}}},
		{"map message is not a MapResponse", StateReconnecting, "malformed MapResponse", script{mapStream: func(w http.ResponseWriter) {
			writeFrames(w, []byte(`[1,2,3]`))
			hold(w)
		}}},
		{"map lacks self", StateReconnecting, "lacks this node", script{mapStream: func(w http.ResponseWriter) {
			writeFrames(w, []byte(`{"Peers":[{"ID":2}]}`))
			hold(w)
		}}},
		{"map ends inside a frame", StateReconnecting, "inside", script{mapStream: func(w http.ResponseWriter) {
			w.Write([]byte{100, 0, 0, 0, '{'})
		}}},
		{"map answers 403", StateReconnecting, "HTTP 403", script{mapStream: func(w http.ResponseWriter) { http.Error(w, "who are you", 403) }}},
		{"map never answers", StateReconnecting, "did not answer the map request", script{mapStream: func(w http.ResponseWriter) { hold(w) }}},
		{"map goes silent", StateReconnecting, "no message from control", script{mapStream: func(w http.ResponseWriter) {
			writeFrames(w, []byte(goodFirstMap))
			hold(w)
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := startFakeControl(t, tc.sc)
			n := newNodeWith(t, fc.url, func(c *Client) { c.watchdog = 500 * time.Millisecond })
			n.waitForStateMessage(tc.state, tc.message)
			if tc.state == StateRefused {
				time.Sleep(200 * time.Millisecond)
				if n.lastState().State != StateRefused {
					t.Fatalf("retried after refused: %+v", n.states)
				}
			}
		})
	}
}

func TestEarlyPayloadIsSkippedAndTheMapStillArrives(t *testing.T) {
	fc := startFakeControl(t, script{earlyPayload: true, mapStream: func(w http.ResponseWriter) {
		writeFrames(w, []byte(`{"KeepAlive":true}`), zstdFrame(t, goodFirstMap)[4:])
		hold(w)
	}})
	n := newNodeWith(t, fc.url, nil)
	n.running()
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.peers[2]; !ok || n.self == nil || n.self.ID != 1 {
		t.Fatalf("netmap: self %+v peers %+v", n.self, n.peers)
	}
}

func TestHTTPSControlURLVerifiesTheCertificate(t *testing.T) {
	fc := startFakeControlTLS(t, script{mapStream: func(w http.ResponseWriter) {
		writeFrames(w, []byte(goodFirstMap))
		hold(w)
	}})
	// Unknown certificate: refused by TLS, retried (it may be a transient misconfiguration).
	untrusted := newNodeWith(t, fc.url, nil)
	untrusted.waitForStateMessage(StateReconnecting, "certificate")
	untrusted.client.Stop()

	pool := x509.NewCertPool()
	pool.AddCert(fc.tls.Certificate())
	n := newNodeWith(t, fc.url, func(c *Client) { c.ep.rootCAs = pool })
	n.running()
}

func TestStopEndsEverythingWhileControlHangs(t *testing.T) {
	fc := startFakeControl(t, script{mapStream: func(w http.ResponseWriter) {
		writeFrames(w, []byte(goodFirstMap))
		hold(w)
	}})
	n := newNodeWith(t, fc.url, nil)
	n.running()
	done := make(chan struct{})
	go func() { n.client.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Stop did not return while the map stream was open")
	}
	n.mu.Lock()
	count := len(n.states) + len(n.events)
	n.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.states)+len(n.events) != count {
		t.Fatal("events after Stop returned")
	}
}

// newNodeWith starts a node against url with a fixed auth key and lets adjust tune the client
// before it starts.
func newNodeWith(t *testing.T, url string, adjust func(*Client)) *node {
	t.Helper()
	n := &node{t: t, peers: map[int64]netmap.Peer{}}
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`{"controlURL":%q,"authKey":"k","hostname":"h","stateDir":%q,"nodeKey":%q}`, url, t.TempDir(), randomKey("nodekey:"))))
	if err != nil {
		t.Fatal(err)
	}
	n.cfg = cfg
	n.client, err = New(cfg, n.sink)
	if err != nil {
		t.Fatal(err)
	}
	n.client.backoffMin = 50 * time.Millisecond
	n.client.backoffMax = 200 * time.Millisecond
	if adjust != nil {
		adjust(n.client)
	}
	n.client.Start()
	t.Cleanup(n.client.Stop)
	return n
}
