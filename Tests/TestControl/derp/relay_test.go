package derp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUpgradeAnswerCarriesVersionAndRelayKey(t *testing.T) {
	r := startRelay(t, nil)
	c := r.dial(t, dialOptions{})
	if got := c.header.Get("Derp-Version"); got != "2" {
		t.Errorf("Derp-Version %q, want 2", got)
	}
	pub := r.s.PublicKey()
	if got := c.header.Get("Derp-Public-Key"); got != hexKey(pub) {
		t.Errorf("Derp-Public-Key %q, want %s", got, hexKey(pub))
	}
	if c.serverKey != Key(pub) {
		t.Errorf("ServerKey frame carries %x, want %x", c.serverKey, pub)
	}
}

func TestTwoClientsExchangePacketsThroughTLSAndPlainHTTPOnOnePort(t *testing.T) {
	r := startRelay(t, nil)
	a := r.dial(t, dialOptions{tls: true})
	b := r.dial(t, dialOptions{tls: false})
	c := r.dial(t, dialOptions{tls: true, fastStart: true})
	for i := 0; i < 50; i++ {
		msg := []byte(fmt.Sprintf("a to b %d", i))
		a.sendPacket(b.pub, msg)
		src, got := b.recvPacket()
		if src != a.pub || !bytes.Equal(got, msg) {
			t.Fatalf("b got %q from %v, want %q from %v", got, src, msg, a.pub)
		}
		b.sendPacket(c.pub, msg)
		src, got = c.recvPacket()
		if src != b.pub || !bytes.Equal(got, msg) {
			t.Fatalf("c got %q from %v, want %q from %v", got, src, msg, b.pub)
		}
	}
	big := bytes.Repeat([]byte{0xab}, MaxPacketSize)
	c.sendPacket(a.pub, big)
	if src, got := a.recvPacket(); src != c.pub || !bytes.Equal(got, big) {
		t.Fatalf("64 KiB packet: got %d bytes from %v", len(got), src)
	}
	st := r.s.Stats()
	if st.PacketsRelayed != 101 || st.ClientsConnected != 3 || st.Accepted != 3 || st.AcceptedTLS != 2 {
		t.Errorf("stats %+v, want 101 relayed, 3 clients, 2 of 3 over TLS", st)
	}
}

func TestSendingToOneselfIsRelayed(t *testing.T) {
	r := startRelay(t, nil)
	a := r.dial(t, dialOptions{})
	a.sendPacket(a.pub, []byte("loop"))
	if src, got := a.recvPacket(); src != a.pub || string(got) != "loop" {
		t.Fatalf("got %q from %v", got, src)
	}
}

func TestPingIsAnsweredWithPongEchoingFirstEightBytes(t *testing.T) {
	r := startRelay(t, nil)
	a := r.dial(t, dialOptions{})
	a.writeFrame(FramePing, []byte("12345678"))
	if got := a.next(FramePong); string(got) != "12345678" {
		t.Fatalf("pong %q", got)
	}
	long := append([]byte("abcdefgh"), bytes.Repeat([]byte{1}, 992)...)
	a.writeFrame(FramePing, long)
	if got := a.next(FramePong); string(got) != "abcdefgh" {
		t.Fatalf("pong %q", got)
	}
}

func TestOversizedPingClosesConnection(t *testing.T) {
	r := startRelay(t, nil)
	a := r.dial(t, dialOptions{})
	a.writeFrame(FramePing, make([]byte, maxPingLen+1))
	a.expectClosed()
}

func TestKeepAliveIsSentAtConfiguredInterval(t *testing.T) {
	r := startRelay(t, func(s *Server) { s.KeepAliveInterval = 50 * time.Millisecond })
	a := r.dial(t, dialOptions{})
	a.setDeadline(5 * time.Second)
	if ft, body := a.readFrame(); ft != FrameKeepAlive || len(body) != 0 {
		t.Fatalf("got %#x %x, want empty KeepAlive", byte(ft), body)
	}
}

func TestNotePreferredAndUnknownFramesAreAcceptedAndSkipped(t *testing.T) {
	r := startRelay(t, nil)
	a := r.dial(t, dialOptions{})
	b := r.dial(t, dialOptions{})
	a.writeFrame(FrameNotePreferred, []byte{1})
	a.writeFrame(FrameType(0x7f), bytes.Repeat([]byte{0xff}, 5000))
	a.writeFrame(FrameKeepAlive, nil)
	a.writeFrame(FrameHealth, []byte("client-sent health"))
	a.sendPacket(b.pub, []byte("after"))
	if _, got := b.recvPacket(); string(got) != "after" {
		t.Fatalf("got %q", got)
	}
	a.roundTrip()
	if cl := r.s.lookup(a.pub); cl == nil || !cl.preferred.Load() {
		t.Error("NotePreferred(1) not recorded")
	}
	if st := r.s.Stats(); st.UnknownFrames != 3 {
		t.Errorf("UnknownFrames %d, want 3", st.UnknownFrames)
	}
}

func TestPeerGoneDisconnectedGoesToBothSidesOfAnExchange(t *testing.T) {
	r := startRelay(t, nil)
	a := r.dial(t, dialOptions{})
	b := r.dial(t, dialOptions{})
	c := r.dial(t, dialOptions{})
	a.sendPacket(b.pub, []byte("hi"))
	b.recvPacket()
	c.sendPacket(a.pub, []byte("hi"))
	a.recvPacket()

	// b leaves: a sent to it, so a hears; c never talked to b.
	b.nc.Close()
	body := a.next(FramePeerGone)
	if !bytes.Equal(body, append(b.pub[:], byte(PeerGoneDisconnected))) {
		t.Fatalf("PeerGone %x, want %x+00", body, b.pub)
	}
	// a leaves: c sent to it and hears.
	a.nc.Close()
	body = c.next(FramePeerGone)
	if !bytes.Equal(body, append(a.pub[:], byte(PeerGoneDisconnected))) {
		t.Fatalf("PeerGone %x, want %x+00", body, a.pub)
	}
	c.roundTrip()
	if st := r.s.Stats(); st.PeerGoneDisconnected != 2 {
		t.Errorf("PeerGoneDisconnected %d, want 2", st.PeerGoneDisconnected)
	}
}

func TestPeerGoneNotHereOnlyForDiscoAndRateLimited(t *testing.T) {
	r := startRelay(t, nil)
	a := r.dial(t, dialOptions{})
	var nobody Key
	nobody[0] = 9
	for i := 0; i < 10; i++ {
		a.sendPacket(nobody, []byte("wireguard-ish, not disco"))
	}
	for i := 0; i < 10; i++ {
		a.sendPacket(nobody, discoPacket())
	}
	for i := 0; i < notHereBurst; i++ {
		body := a.next(FramePeerGone)
		if !bytes.Equal(body, append(nobody[:], byte(PeerGoneNotHere))) {
			t.Fatalf("PeerGone %x", body)
		}
	}
	a.roundTrip()
	st := r.s.Stats()
	if st.PeerGoneNotHere != notHereBurst {
		t.Fatalf("PeerGoneNotHere %d, want the burst of %d", st.PeerGoneNotHere, notHereBurst)
	}
	if st.DiscoReceived != 10 {
		t.Errorf("DiscoReceived %d, want 10", st.DiscoReceived)
	}
	if st.Dropped["unknown_dest"] != 20 {
		t.Errorf("unknown_dest drops %d, want 20", st.Dropped["unknown_dest"])
	}
}

func TestNewConnectionWithSameKeyReplacesTheOld(t *testing.T) {
	r := startRelay(t, nil)
	a1 := r.dial(t, dialOptions{})
	b := r.dial(t, dialOptions{tls: true})
	b.sendPacket(a1.pub, []byte("to first"))
	a1.recvPacket()

	a2 := r.dial(t, dialOptions{keyFrom: a1, tls: true})
	a1.expectClosed()
	b.sendPacket(a2.pub, []byte("to second"))
	if _, got := a2.recvPacket(); string(got) != "to second" {
		t.Fatalf("got %q", got)
	}
	// The replaced connection's departure is not the key leaving.
	b.roundTrip()
	st := r.s.Stats()
	if st.Replaced != 1 || st.PeerGoneDisconnected != 0 || st.ClientsConnected != 2 {
		t.Fatalf("stats %+v: want 1 replaced, no PeerGone, 2 clients", st)
	}
	// The key leaving for good is reported once.
	a2.nc.Close()
	if body := b.next(FramePeerGone); !bytes.Equal(body[:keyLen], a1.pub[:]) {
		t.Fatalf("PeerGone %x", body)
	}
}

func TestSlowClientQueueIsBoundedAndDropsAreCounted(t *testing.T) {
	const depth = 4
	r := startRelay(t, func(s *Server) {
		s.SendQueueDepth = depth
		s.WriteTimeout = time.Minute // keep the non-reader connected
	})
	a := r.dial(t, dialOptions{})
	slow := r.dial(t, dialOptions{}) // never reads
	pkt := make([]byte, 60<<10)
	const n = 400 // 24 MB: far more than loopback socket buffers hold
	for i := 0; i < n; i++ {
		a.sendPacket(slow.pub, pkt)
	}
	a.roundTrip() // the sender was never blocked: the relay read everything
	st := r.s.Stats()
	if st.PacketsReceived != n {
		t.Fatalf("received %d of %d", st.PacketsReceived, n)
	}
	if st.Dropped["queue_full"] == 0 {
		t.Fatalf("no queue_full drops: %+v", st)
	}
	// Every packet is accounted for: relayed (taken by the writer), dropped,
	// or still queued. The writer may take one more packet between the two
	// snapshots, so that one can be counted twice.
	queued := uint64(len(r.s.lookup(slow.pub).sendQueue))
	st = r.s.Stats()
	if queued > depth {
		t.Fatalf("queue holds %d > depth %d", queued, depth)
	}
	if got := st.PacketsRelayed + st.Dropped["queue_full"] + queued; got < n || got > n+1 {
		t.Fatalf("relayed %d + dropped %d + queued %d = %d, want %d", st.PacketsRelayed, st.Dropped["queue_full"], queued, got, n)
	}
}

func TestClientThatStopsReadingIsDisconnectedAfterWriteTimeout(t *testing.T) {
	r := startRelay(t, func(s *Server) {
		s.SendQueueDepth = 4
		s.WriteTimeout = 200 * time.Millisecond
	})
	a := r.dial(t, dialOptions{})
	slow := r.dial(t, dialOptions{})
	pkt := make([]byte, 60<<10)
	for i := 0; i < 400; i++ {
		a.sendPacket(slow.pub, pkt)
	}
	body := a.next(FramePeerGone)
	if !bytes.Equal(body, append(slow.pub[:], byte(PeerGoneDisconnected))) {
		t.Fatalf("PeerGone %x", body)
	}
	if st := r.s.Stats(); st.ClientsConnected != 1 {
		t.Fatalf("%d clients connected, want 1", st.ClientsConnected)
	}
}

func TestOversizedPacketClosesConnection(t *testing.T) {
	r := startRelay(t, nil)
	a := r.dial(t, dialOptions{})
	var dst Key
	a.sendPacket(dst, make([]byte, MaxPacketSize+1))
	a.expectClosed()
	if st := r.s.Stats(); st.PacketsReceived != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHandshakeRejectsBadClientInfo(t *testing.T) {
	r := startRelay(t, func(s *Server) { s.HandshakeTimeout = 300 * time.Millisecond })
	cases := map[string]func(c *testClient){
		"wrong frame type": func(c *testClient) { c.writeFrame(FrameSendPacket, make([]byte, 100)) },
		"box sealed by another key": func(c *testClient) {
			other := r.dial(t, dialOptions{})
			msg := []byte(`{"version":2}`)
			sk := [32]byte(c.serverKey)
			sealed, _ := sealTo(&other.priv, &sk, msg)
			c.writeFrame(FrameClientInfo, append(append([]byte{}, c.pub[:]...), sealed...))
		},
		"short":         func(c *testClient) { c.writeFrame(FrameClientInfo, make([]byte, 40)) },
		"over 1 MiB":    func(c *testClient) { writeFrameHeader(c.bw, FrameClientInfo, maxInfoLen+1); c.flush() },
		"not JSON":      func(c *testClient) { c.sendRawClientInfo([]byte("{nope")) },
		"silent client": func(c *testClient) {},
	}
	for name, send := range cases {
		t.Run(name, func(t *testing.T) {
			c := r.rawUpgrade(t)
			send(c)
			c.expectClosed()
		})
	}
	if st := r.s.Stats(); st.HandshakeFailures < uint64(len(cases)) {
		t.Errorf("HandshakeFailures %d, want ≥ %d", st.HandshakeFailures, len(cases))
	}
}

func TestNonUpgradeRequestsGetAnHTTPError(t *testing.T) {
	r := startRelay(t, nil)
	resp, err := http.Get("http://" + r.addr + "/derp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", resp.StatusCode)
	}
}

func TestStatsHandlerServesJSON(t *testing.T) {
	r := startRelay(t, nil)
	r.dial(t, dialOptions{})
	resp, err := http.Get("http://" + r.addr + "/derp/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.ClientsConnected != 1 || st.Accepted != 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok := st.Dropped["queue_full"]; !ok {
		t.Fatalf("drop reasons missing: %+v", st.Dropped)
	}
}

func TestCloseDisconnectsClientsAndRefusesNewOnes(t *testing.T) {
	r := startRelay(t, nil)
	a := r.dial(t, dialOptions{})
	r.s.Close()
	a.expectClosed()
	resp, err := http.Get("http://" + r.addr + "/derp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n")
	resp, err = http.ReadResponse(bufioReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d after Close, want 503", resp.StatusCode)
	}
	if !strings.Contains(resp.Status, "503") {
		t.Fatal(resp.Status)
	}
}
