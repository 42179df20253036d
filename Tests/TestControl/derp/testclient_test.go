package derp

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"
)

// testClient is a minimal DERP client for tests: it speaks the frames itself,
// so a test can send anything, well-formed or not.
type testClient struct {
	t         testing.TB
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	pub       Key
	priv      [32]byte
	serverKey Key
	header    http.Header // of the 101 answer (nil with fast start)
}

type dialOptions struct {
	tls       bool
	fastStart bool
	keyFrom   *testClient // reuse this client's key pair
	meshKey   string
}

// relay is a relay served on a sniffing listener, as the control server does.
type relay struct {
	s    *Server
	addr string
	srv  *http.Server
}

// startRelay serves s on 127.0.0.1 with TLS and plain HTTP on one port.
func startRelay(t testing.TB, configure func(*Server)) *relay {
	t.Helper()
	// Relay goroutines may still log while the test ends; t.Logf must not
	// be called after that.
	var logMu sync.Mutex
	testDone := false
	s := NewServer(func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if !testDone {
			t.Logf(format, args...)
		}
	})
	if configure != nil {
		configure(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := SelfSignedTLSConfig([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/derp", s)
	mux.Handle("/derp/stats", s.StatsHandler())
	srv := &http.Server{Handler: mux, ErrorLog: nil}
	go srv.Serve(NewSniffingListener(ln, cfg))
	t.Cleanup(func() {
		srv.Close()
		s.Close()
		logMu.Lock()
		testDone = true
		logMu.Unlock()
	})
	return &relay{s: s, addr: ln.Addr().String(), srv: srv}
}

// dial connects, upgrades and completes the handshake.
func (r *relay) dial(t testing.TB, o dialOptions) *testClient {
	t.Helper()
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	if o.tls {
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		nc = tc
	}
	c := &testClient{t: t, nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
	t.Cleanup(func() { nc.Close() })
	if o.keyFrom != nil {
		c.pub, c.priv = o.keyFrom.pub, o.keyFrom.priv
	} else {
		pub, priv, err := box.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c.pub, c.priv = Key(*pub), *priv
	}
	req := "GET /derp HTTP/1.1\r\nHost: " + r.addr + "\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n"
	if o.fastStart {
		req += "Derp-Fast-Start: 1\r\n"
	}
	c.bw.WriteString(req + "\r\n")
	c.flush()
	c.setDeadline(5 * time.Second)
	if !o.fastStart {
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade answered %s", resp.Status)
		}
		c.header = resp.Header
	}
	c.handshake(o.meshKey)
	return c
}

// handshake reads ServerKey, sends ClientInfo and checks ServerInfo.
func (c *testClient) handshake(meshKey string) {
	t := c.t
	t.Helper()
	c.setDeadline(5 * time.Second)
	t1, body := c.readFrame()
	if t1 != FrameServerKey || len(body) < len(magic)+keyLen || string(body[:len(magic)]) != magic {
		t.Fatalf("first frame %#x %x, want ServerKey", byte(t1), body)
	}
	copy(c.serverKey[:], body[len(magic):])
	c.sendClientInfo(ClientInfo{Version: 2, CanAckPings: true, MeshKey: meshKey})
	t3, body := c.readFrame()
	if t3 != FrameServerInfo {
		t.Fatalf("got frame %#x, want ServerInfo", byte(t3))
	}
	sk := [32]byte(c.serverKey)
	msg, ok := openFrom(&c.priv, &sk, body)
	if !ok {
		t.Fatal("ServerInfo box does not open")
	}
	var si serverInfo
	if err := json.Unmarshal(msg, &si); err != nil || si.Version != protocolVersion {
		t.Fatalf("ServerInfo %q: %v", msg, err)
	}
	c.nc.SetDeadline(time.Time{})
}

func (c *testClient) sendClientInfo(info ClientInfo) {
	msg, _ := json.Marshal(info)
	sk := [32]byte(c.serverKey)
	sealed, err := sealTo(&c.priv, &sk, msg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.writeFrame(FrameClientInfo, append(append([]byte{}, c.pub[:]...), sealed...))
}

func (c *testClient) setDeadline(d time.Duration) { c.nc.SetDeadline(time.Now().Add(d)) }

func (c *testClient) flush() {
	if err := c.bw.Flush(); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *testClient) writeFrame(t FrameType, payload []byte) {
	writeFrame(c.bw, t, payload)
	c.flush()
}

func (c *testClient) sendPacket(dst Key, data []byte) {
	c.writeFrame(FrameSendPacket, append(append([]byte{}, dst[:]...), data...))
}

// readFrame reads one frame or fails the test.
func (c *testClient) readFrame() (FrameType, []byte) {
	t, body, err := c.tryReadFrame()
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return t, body
}

func (c *testClient) tryReadFrame() (FrameType, []byte, error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxInfoLen {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	body := make([]byte, n)
	_, err := io.ReadFull(c.br, body)
	return FrameType(h[0]), body, err
}

// next reads frames within 5 s, skipping KeepAlives, until one of type want.
func (c *testClient) next(want FrameType) []byte {
	c.t.Helper()
	c.setDeadline(5 * time.Second)
	defer c.nc.SetDeadline(time.Time{})
	for {
		t, body := c.readFrame()
		if t == want {
			return body
		}
		if t != FrameKeepAlive {
			c.t.Fatalf("got frame %#x (%x), want %#x", byte(t), body, byte(want))
		}
	}
}

// recvPacket reads the next RecvPacket frame.
func (c *testClient) recvPacket() (Key, []byte) {
	c.t.Helper()
	body := c.next(FrameRecvPacket)
	if len(body) < keyLen {
		c.t.Fatalf("RecvPacket of %d bytes", len(body))
	}
	var src Key
	copy(src[:], body)
	return src, body[keyLen:]
}

// roundTrip pings the relay and waits for the pong, skipping other frames:
// afterwards the relay has processed every frame sent before.
func (c *testClient) roundTrip() {
	c.t.Helper()
	var id [8]byte
	rand.Read(id[:])
	c.writeFrame(FramePing, id[:])
	c.setDeadline(5 * time.Second)
	defer c.nc.SetDeadline(time.Time{})
	for {
		t, body := c.readFrame()
		if t == FramePong && bytes.Equal(body, id[:]) {
			return
		}
	}
}

// expectClosed asserts the relay ends the connection within 5 s.
func (c *testClient) expectClosed() {
	c.t.Helper()
	c.setDeadline(5 * time.Second)
	for {
		_, _, err := c.tryReadFrame()
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			c.t.Fatal("connection still open after 5 s")
		}
		return
	}
}

// discoPacket is a payload the relay classifies as disco.
func discoPacket() []byte {
	p := make([]byte, discoMinLen+20)
	copy(p, discoMagic)
	return p
}

func hexKey(k Key) string { return hex.EncodeToString(k[:]) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// rawUpgrade upgrades and reads the ServerKey frame, leaving ClientInfo to the test.
func (r *relay) rawUpgrade(t testing.TB) *testClient {
	t.Helper()
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &testClient{t: t, nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
	pub, priv, _ := box.GenerateKey(rand.Reader)
	c.pub, c.priv = Key(*pub), *priv
	c.bw.WriteString("GET /derp HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: DERP\r\nDerp-Fast-Start: 1\r\n\r\n")
	c.flush()
	c.setDeadline(5 * time.Second)
	if ft, body := c.readFrame(); ft != FrameServerKey {
		t.Fatalf("got %#x %x", byte(ft), body)
	} else {
		copy(c.serverKey[:], body[len(magic):])
	}
	return c
}

// sendRawClientInfo seals arbitrary bytes as the ClientInfo message.
func (c *testClient) sendRawClientInfo(msg []byte) {
	sk := [32]byte(c.serverKey)
	sealed, _ := sealTo(&c.priv, &sk, msg)
	c.writeFrame(FrameClientInfo, append(append([]byte{}, c.pub[:]...), sealed...))
}
