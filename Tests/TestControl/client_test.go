package main

// A minimal ts2021 client for the tests: the initiator side of the Noise handshake, HTTP/2 over
// the Noise conn, and readers for register and map responses.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/net/http2"
)

const testCapVersion = 145

// noiseInitiate builds the initiation message and returns a function that completes the
// handshake from the server's response.
func noiseInitiate(machine MachinePrivate, control MachinePublic, version uint16) ([]byte, func(conn net.Conn, resp []byte) (*noiseConn, error)) {
	s := newNoiseHandshake()
	s.mixHash(noisePrologue(version))
	s.mixHash(control.rawKey[:])
	eph := newPrivateKey()
	ephPub := publicKey(eph)
	init := make([]byte, 5, noiseInitiationLen)
	binary.BigEndian.PutUint16(init[0:2], version)
	init[2] = noiseMsgInitiation
	binary.BigEndian.PutUint16(init[3:5], noiseInitiationBody)
	init = append(init, ephPub[:]...)
	s.mixHash(ephPub[:])
	k, _ := s.mixDH(eph, control.rawKey)
	machinePub := machine.Public()
	init = append(init, s.encryptAndHash(k, machinePub.rawKey[:])...)
	k, _ = s.mixDH(machine.rawKey, control.rawKey)
	init = append(init, s.encryptAndHash(k, nil)...)
	finish := func(conn net.Conn, resp []byte) (*noiseConn, error) {
		if len(resp) != noiseResponseLen || resp[0] != noiseMsgResponse {
			return nil, fmt.Errorf("bad response %x", resp)
		}
		var serverEph rawKey
		copy(serverEph[:], resp[3:35])
		s.mixHash(serverEph[:])
		if _, err := s.mixDH(eph, serverEph); err != nil {
			return nil, err
		}
		k, err := s.mixDH(machine.rawKey, serverEph)
		if err != nil {
			return nil, err
		}
		if _, err := s.decryptAndHash(k, resp[35:51]); err != nil {
			return nil, fmt.Errorf("response tag: %v", err)
		}
		c1, c2, err := s.split()
		if err != nil {
			return nil, err
		}
		nc := &noiseConn{conn: conn, version: version, peer: control}
		nc.tx.aead, nc.rx.aead = c1, c2
		return nc, nil
	}
	return init, finish
}

// testServer runs a control server on loopback for one test.
type testServer struct {
	t       *testing.T
	srv     *controlServer
	tailnet *Tailnet
	http    *httptest.Server
}

func newTestServer(t *testing.T, configure func(*tailnetConfig, *controlServer)) *testServer {
	t.Helper()
	cfg := tailnetConfig{Domain: "tailnet.test", EphemeralGrace: 30 * time.Second, Logf: t.Logf}
	srv := &controlServer{noiseKey: MachinePrivate{newPrivateKey()}, legacyKey: MachinePrivate{newPrivateKey()},
		logf: t.Logf, mapSettings: mapSettings{KeepAlive: time.Minute}}
	if configure != nil {
		configure(&cfg, srv)
	}
	srv.tailnet = newTailnet(cfg)
	srv.tailnet.addAuthKey("good", authKeyReusable)
	srv.tailnet.addAuthKey("once", authKeyOneOff)
	srv.tailnet.addAuthKey("old", authKeyExpired)
	ts := &testServer{t: t, srv: srv, tailnet: srv.tailnet, http: httptest.NewServer(srv)}
	t.Cleanup(ts.http.Close)
	return ts
}

func (ts *testServer) addr() string { return strings.TrimPrefix(ts.http.URL, "http://") }

// testNode is one client machine with its keys and an HTTP/2 connection to control.
type testNode struct {
	t       *testing.T
	ts      *testServer
	machine MachinePrivate
	node    NodePublic
	disco   DiscoPublic
	cc      *http2.ClientConn
	conn    net.Conn
}

func (ts *testServer) newNode() *testNode {
	n := &testNode{t: ts.t, ts: ts, machine: MachinePrivate{newPrivateKey()},
		node: NodePublic{publicKey(newPrivateKey())}, disco: DiscoPublic{publicKey(newPrivateKey())}}
	n.connect()
	return n
}

// connect opens the ts2021 connection: /key, the upgrade, the handshake, HTTP/2.
func (n *testNode) connect() {
	n.t.Helper()
	resp, err := http.Get(n.ts.http.URL + "/key?v=145")
	if err != nil {
		n.t.Fatal(err)
	}
	var keys KeyResponse
	if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil {
		n.t.Fatal(err)
	}
	resp.Body.Close()
	raw, err := net.Dial("tcp", n.ts.addr())
	if err != nil {
		n.t.Fatal(err)
	}
	init, finish := noiseInitiate(n.machine, keys.PublicKey, testCapVersion)
	fmt.Fprintf(raw, "POST /ts2021 HTTP/1.1\r\nHost: %s\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\nX-Tailscale-Handshake: %s\r\nContent-Length: 0\r\n\r\n",
		n.ts.addr(), base64.StdEncoding.EncodeToString(init))
	br := bufio.NewReader(raw)
	hresp, err := http.ReadResponse(br, nil)
	if err != nil {
		n.t.Fatal(err)
	}
	if hresp.StatusCode != http.StatusSwitchingProtocols {
		n.t.Fatalf("upgrade status %d", hresp.StatusCode)
	}
	msg := make([]byte, noiseResponseLen)
	if _, err := io.ReadFull(br, msg); err != nil {
		n.t.Fatal(err)
	}
	nc, err := finish(&bufferedConn{Conn: raw, r: br}, msg)
	if err != nil {
		n.t.Fatal(err)
	}
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(nc)
	if err != nil {
		n.t.Fatal(err)
	}
	n.cc, n.conn = cc, raw
	n.t.Cleanup(func() { raw.Close() })
}

func (n *testNode) post(ctx context.Context, path string, body interface{}) *http.Response {
	n.t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+n.ts.addr()+path, bytes.NewReader(data))
	resp, err := n.cc.RoundTrip(req)
	if err != nil {
		n.t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}

func (n *testNode) register(authKey, hostname string, ephemeral bool) RegisterResponse {
	n.t.Helper()
	req := RegisterRequest{Version: testCapVersion, NodeKey: n.node, Ephemeral: ephemeral,
		Hostinfo: json.RawMessage(fmt.Sprintf(`{"Hostname":%q,"OS":"linux"}`, hostname))}
	if authKey != "" {
		req.Auth = &RegisterAuth{AuthKey: authKey}
	}
	resp := n.post(context.Background(), "/machine/register", req)
	defer resp.Body.Close()
	var out RegisterResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		n.t.Fatalf("register response: %v", err)
	}
	return out
}

func (n *testNode) mustRegister(authKey, hostname string, ephemeral bool) {
	n.t.Helper()
	if res := n.register(authKey, hostname, ephemeral); res.Error != "" || !res.MachineAuthorized {
		n.t.Fatalf("register %s: %+v", hostname, res)
	}
}

func (n *testNode) logout() {
	n.t.Helper()
	resp := n.post(context.Background(), "/machine/register", RegisterRequest{Version: testCapVersion, NodeKey: n.node, Expiry: logoutExpiry})
	resp.Body.Close()
}

// update sends a non-streaming OmitPeers map request with endpoints and the disco key.
func (n *testNode) update(endpoints ...string) {
	n.t.Helper()
	req := MapRequest{Version: testCapVersion, NodeKey: n.node, DiscoKey: n.disco, OmitPeers: true}
	for _, e := range endpoints {
		req.Endpoints = append(req.Endpoints, netip.MustParseAddrPort(e))
	}
	resp := n.post(context.Background(), "/machine/map", req)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		n.t.Fatalf("update: status %d", resp.StatusCode)
	}
}

// mapStream is an open streaming map poll.
type mapStream struct {
	t        *testing.T
	body     io.ReadCloser
	compress bool
	cancel   context.CancelFunc
	msgs     chan *MapResponse
}

func (n *testNode) stream(compress bool) *mapStream {
	n.t.Helper()
	req := MapRequest{Version: testCapVersion, NodeKey: n.node, Stream: true, KeepAlive: true}
	if compress {
		req.Compress = "zstd"
	}
	ctx, cancel := context.WithCancel(context.Background())
	resp := n.post(ctx, "/machine/map", req)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		n.t.Fatalf("map stream: status %d: %s", resp.StatusCode, b)
	}
	ms := &mapStream{t: n.t, body: resp.Body, compress: compress, cancel: cancel,
		msgs: make(chan *MapResponse, 1000)}
	go ms.readLoop()
	n.t.Cleanup(ms.close)
	return ms
}

func readFrame(r io.Reader, compress bool) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	if compress {
		dec, _ := zstd.NewReader(nil)
		defer dec.Close()
		return dec.DecodeAll(body, nil)
	}
	return body, nil
}

func (ms *mapStream) readLoop() {
	defer close(ms.msgs)
	for {
		body, err := readFrame(ms.body, ms.compress)
		if err != nil {
			return
		}
		var m MapResponse
		if err := json.Unmarshal(body, &m); err != nil {
			ms.t.Errorf("map message is not JSON: %v", err)
			return
		}
		ms.msgs <- &m
	}
}

func (ms *mapStream) close() { ms.cancel(); ms.body.Close() }

// next returns the next message that is not a keep-alive (or fails after a timeout).
func (ms *mapStream) next() *MapResponse {
	ms.t.Helper()
	for {
		select {
		case m, ok := <-ms.msgs:
			if !ok {
				ms.t.Fatal("map stream ended")
			}
			if m.KeepAlive {
				continue
			}
			return m
		case <-time.After(5 * time.Second):
			ms.t.Fatal("no map message within 5 s")
		}
	}
}

// nextWhere returns the first message for which ok holds, skipping others.
func (ms *mapStream) nextWhere(what string, ok func(*MapResponse) bool) *MapResponse {
	ms.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m, open := <-ms.msgs:
			if !open {
				ms.t.Fatalf("map stream ended waiting for %s", what)
			}
			if ok(m) {
				return m
			}
		case <-deadline:
			ms.t.Fatalf("no map message with %s within 5 s", what)
		}
	}
}

// ended reports whether the stream closes within d.
func (ms *mapStream) ended(d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case _, open := <-ms.msgs:
			if !open {
				return true
			}
		case <-deadline:
			return false
		}
	}
}
