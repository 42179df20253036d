package control

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http2"

	"wirenet/Sources/ControlHelper/noise"
	"wirenet/Sources/ControlHelper/tailcfg"
)

const (
	// upgradePath and upgradeProtocol are the ts2021 HTTP upgrade (controlhttp/constants.go).
	upgradePath     = "/ts2021"
	upgradeProtocol = "tailscale-control-protocol"
	handshakeHeader = "X-Tailscale-Handshake"
	// earlyPayloadMagic starts control's optional early payload before HTTP/2 (ts2021/conn.go).
	earlyPayloadMagic = "\xff\xff\xffTS"
	// maxEarlyPayload bounds the early payload (tailscale's own limit is 10 MiB; ours is smaller).
	maxEarlyPayload = 1 << 20
	// maxSmallBody bounds bodies read whole: /key, register, errors.
	maxSmallBody = 1 << 20
	// maxUpgradeHeader bounds the HTTP/1.1 response to the upgrade request.
	maxUpgradeHeader = 64 << 10
	// dialTimeout bounds connecting, the upgrade and the Noise handshake together.
	dialTimeout = 30 * time.Second
)

// controlEndpoint is control's URL split for dialling.
type controlEndpoint struct {
	base     string // scheme://host[:port], no trailing slash
	hostPort string
	host     string
	tls      bool
}

func parseEndpoint(controlURL string) (controlEndpoint, error) {
	u, err := url.Parse(controlURL)
	if err != nil {
		return controlEndpoint{}, err
	}
	ep := controlEndpoint{base: u.Scheme + "://" + u.Host, host: u.Hostname(), tls: u.Scheme == "https"}
	port := u.Port()
	if port == "" {
		port = "80"
		if ep.tls {
			port = "443"
		}
	}
	ep.hostPort = net.JoinHostPort(ep.host, port)
	return ep, nil
}

// fetchControlKey does GET /key?v=<capver> and returns control's Noise public key.
func fetchControlKey(ctx context.Context, ep controlEndpoint) ([32]byte, error) {
	var zero [32]byte
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/key?v=%d", ep.base, tailcfg.CapabilityVersion), nil)
	if err != nil {
		return zero, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, ForceAttemptHTTP2: false}}
	resp, err := client.Do(req)
	if err != nil {
		return zero, fmt.Errorf("fetching control's key: %v", err)
	}
	defer resp.Body.Close()
	body, err := readSmall(resp.Body)
	if err != nil {
		return zero, fmt.Errorf("fetching control's key: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return zero, &httpError{op: "GET /key", status: resp.StatusCode, body: body}
	}
	var keys tailcfg.OverTLSPublicKeyResponse
	if err := json.Unmarshal(body, &keys); err != nil {
		return zero, fmt.Errorf("control's /key answer is not JSON with a publicKey (a legacy-only server?): %.100q", body)
	}
	k, err := tailcfg.ParseKey(keys.PublicKey, tailcfg.MachinePublicPrefix)
	if err != nil {
		return zero, fmt.Errorf("control's /key answer: publicKey: %v", err)
	}
	return k, nil
}

// httpError is a non-success HTTP status with the start of its body.
type httpError struct {
	op     string
	status int
	body   []byte
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.op, e.status, clip(strings.TrimSpace(string(e.body)), 300))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// readSmall reads a body of at most maxSmallBody bytes.
func readSmall(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSmallBody+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSmallBody {
		return nil, fmt.Errorf("response body larger than %d bytes", maxSmallBody)
	}
	return data, nil
}

// limitedReader is a reader whose byte budget can be lifted after the bounded phase.
type limitedReader struct {
	r         io.Reader
	remaining int64
	bounded   bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if !l.bounded {
		return l.r.Read(p)
	}
	if l.remaining <= 0 {
		return 0, errors.New("control's upgrade response is too large")
	}
	if int64(len(p)) > l.remaining {
		p = p[:l.remaining]
	}
	n, err := l.r.Read(p)
	l.remaining -= int64(n)
	return n, err
}

// dialNoise connects to control, upgrades to ts2021 with the Noise initiation in the
// X-Tailscale-Handshake header (controlhttp/client.go), and finishes the handshake.
func dialNoise(ctx context.Context, ep controlEndpoint, machine noise.KeyPair, controlKey [32]byte) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ep.hostPort)
	if err != nil {
		return nil, fmt.Errorf("connecting to control at %s: %v", ep.hostPort, err)
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	// The deadline covers the whole upgrade; a cancelled ctx closes the connection.
	deadline, _ := ctx.Deadline()
	raw.SetDeadline(deadline)
	stopWatch, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-ctx.Done():
			raw.SetDeadline(time.Unix(1, 0))
		case <-stopWatch:
		}
	}()
	defer func() {
		select {
		case <-stopWatch:
		default:
			close(stopWatch)
		}
		<-watchDone
	}()

	conn := raw
	if ep.tls {
		tc := tls.Client(raw, &tls.Config{ServerName: ep.host, NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS to control at %s: %v", ep.hostPort, err)
		}
		conn = tc
	}

	ephemeral, err := noise.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	init, err := noise.Initiate(machine, controlKey, tailcfg.CapabilityVersion, ephemeral)
	if err != nil {
		return nil, err
	}
	request := "POST " + upgradePath + " HTTP/1.1\r\n" +
		"Host: " + ep.hostPort + "\r\n" +
		"Upgrade: " + upgradeProtocol + "\r\n" +
		"Connection: upgrade\r\n" +
		handshakeHeader + ": " + base64.StdEncoding.EncodeToString(init.Message) + "\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := io.WriteString(conn, request); err != nil {
		return nil, fmt.Errorf("sending the ts2021 upgrade: %v", err)
	}
	limited := &limitedReader{r: conn, remaining: maxUpgradeHeader, bounded: true}
	br := bufio.NewReaderSize(limited, noise.MaxMessageSize)
	resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
	if err != nil {
		return nil, fmt.Errorf("reading the ts2021 upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := readSmall(io.LimitReader(resp.Body, 4096))
		return nil, &httpError{op: "POST /ts2021", status: resp.StatusCode, body: body}
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), upgradeProtocol) {
		return nil, fmt.Errorf("control upgraded to %q, want %q", resp.Header.Get("Upgrade"), upgradeProtocol)
	}
	tx, rx, err := init.Finish(br)
	if err != nil {
		return nil, err
	}
	limited.bounded = false
	close(stopWatch)
	<-watchDone
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ts2021 handshake: %v", err)
	}
	conn.SetDeadline(time.Time{})
	ok = true
	return &earlyPayloadConn{Conn: noise.NewConn(conn, br, tx, rx)}, nil
}

// earlyPayloadConn skips control's optional early payload ("\xff\xff\xffTS" + u32be length +
// JSON tailcfg.EarlyNoise) before the first HTTP/2 frame (ts2021/conn.go readHeader). The helper
// does not use the node-key challenge it carries.
type earlyPayloadConn struct {
	net.Conn
	checked bool
	pending []byte
}

func (c *earlyPayloadConn) Read(p []byte) (int, error) {
	if !c.checked {
		c.checked = true
		var hdr [9]byte // an HTTP/2 frame header has the same size
		if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
			return 0, err
		}
		if string(hdr[:len(earlyPayloadMagic)]) == earlyPayloadMagic {
			size := binary.BigEndian.Uint32(hdr[len(earlyPayloadMagic):])
			if size > maxEarlyPayload {
				return 0, fmt.Errorf("control's early payload of %d bytes is too large", size)
			}
			if _, err := io.CopyN(io.Discard, c.Conn, int64(size)); err != nil {
				return 0, err
			}
		} else {
			c.pending = append([]byte(nil), hdr[:]...)
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// noiseClient is an HTTP/2 client conn over one ts2021 connection.
type noiseClient struct {
	conn net.Conn
	h2   *http2.ClientConn
	ep   controlEndpoint
}

// newNoiseClient dials control and starts HTTP/2 with prior knowledge over the Noise conn.
func newNoiseClient(ctx context.Context, ep controlEndpoint, machine noise.KeyPair, controlKey [32]byte) (*noiseClient, error) {
	conn, err := dialNoise(ctx, ep, machine, controlKey)
	if err != nil {
		return nil, err
	}
	tr := &http2.Transport{
		AllowHTTP:       true,
		ReadIdleTimeout: 45 * time.Second, // ping a silent conn; the map watchdog is the backstop
		PingTimeout:     15 * time.Second,
	}
	h2, err := tr.NewClientConn(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("starting HTTP/2 over the Noise conn: %v", err)
	}
	return &noiseClient{conn: conn, h2: h2, ep: ep}, nil
}

// post sends a JSON body and returns the response (the caller closes its body).
func (c *noiseClient) post(ctx context.Context, path string, body interface{}) (*http.Response, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+c.ep.host+path, strings.NewReader(string(data)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.h2.RoundTrip(req)
}

func (c *noiseClient) Close() {
	c.h2.Close()
	c.conn.Close()
}
