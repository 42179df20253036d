package derp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"
)

// Fixed key pairs, so fuzz seeds can address a connected peer.
var (
	fuzzAlice = fixedKeyPair(1)
	fuzzBob   = fixedKeyPair(2)
)

type keyPair struct {
	pub  Key
	priv [32]byte
}

func fixedKeyPair(seed byte) keyPair {
	pub, priv, err := box.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		panic(err)
	}
	return keyPair{Key(*pub), *priv}
}

// pipeConn serves one side of a net.Pipe with s and returns the client side
// and a channel that yields when the relay is done with the connection.
func pipeConn(s *Server) (net.Conn, <-chan error) {
	srv, cli := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.serveConn(srv, bufio.NewReader(srv), bufio.NewWriter(srv)) }()
	return cli, done
}

// pipeClient connects kp through a pipe, completes the handshake and then
// discards everything the relay sends.
func pipeClient(t testing.TB, s *Server, kp keyPair) (*testClient, <-chan error) {
	nc, done := pipeConn(s)
	c := &testClient{t: t, nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc), pub: kp.pub, priv: kp.priv}
	c.handshake("")
	go io.Copy(io.Discard, c.br)
	return c, done
}

func frame(t FrameType, payload ...[]byte) []byte {
	var b bytes.Buffer
	body := bytes.Join(payload, nil)
	b.WriteByte(byte(t))
	binary.Write(&b, binary.BigEndian, uint32(len(body)))
	b.Write(body)
	return b.Bytes()
}

func header(t FrameType, n uint32) []byte {
	h := []byte{byte(t), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[1:], n)
	return h
}

// waitDone fails if the relay has not let go of a connection within 5 s.
func waitDone(t testing.TB, done <-chan error, what string) {
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("relay still serving %s 5 s after its input ended", what)
	}
}

// FuzzClientFrames feeds arbitrary bytes to the relay after a good handshake,
// with a second client connected to relay to. The relay must neither panic nor
// hang, and must forget the client once its input ends.
func FuzzClientFrames(f *testing.F) {
	f.Add(frame(FrameSendPacket, fuzzBob.pub[:], []byte("hello")))
	f.Add(frame(FrameSendPacket, fuzzBob.pub[:], []byte(discoMagic), make([]byte, 80)))
	f.Add(frame(FrameSendPacket, make([]byte, 32), []byte(discoMagic), make([]byte, 80)))
	f.Add(frame(FrameSendPacket, fuzzAlice.pub[:], []byte("self")))
	f.Add(frame(FramePing, []byte("12345678")))
	f.Add(frame(FramePing, []byte("1234567")))
	f.Add(frame(FrameNotePreferred, []byte{1}))
	f.Add(frame(FrameNotePreferred, []byte{1, 2}))
	f.Add(frame(FrameWatchConns))
	f.Add(frame(FrameClosePeer, fuzzBob.pub[:]))
	f.Add(frame(FrameForwardPacket, fuzzAlice.pub[:], fuzzBob.pub[:], []byte("x")))
	f.Add(frame(FrameType(0xee), make([]byte, 300)))
	f.Add(header(FrameSendPacket, 0xffffffff))
	f.Add(header(FrameType(0x99), maxFrameLen+1))
	f.Add(header(FrameSendPacket, 40))
	f.Add(append(frame(FrameKeepAlive), frame(FrameSendPacket, fuzzBob.pub[:20])...))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewServer(nil)
		s.WriteTimeout = 200 * time.Millisecond
		defer s.Close()
		bob, bobDone := pipeClient(t, s, fuzzBob)
		alice, aliceDone := pipeClient(t, s, fuzzAlice)
		alice.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		alice.nc.Write(data) // may fail once the relay hangs up: fine
		alice.nc.Close()
		waitDone(t, aliceDone, "the fuzzed client")
		if s.lookup(fuzzAlice.pub) != nil {
			t.Fatal("fuzzed client still registered after its connection ended")
		}
		st := s.Stats()
		if st.PacketsRelayed > st.PacketsReceived {
			t.Fatalf("relayed %d > received %d", st.PacketsRelayed, st.PacketsReceived)
		}
		bob.nc.Close()
		waitDone(t, bobDone, "the peer")
		if n := s.clientCount(); n != 0 {
			t.Fatalf("%d clients registered after all left", n)
		}
	})
}

// FuzzHandshake feeds arbitrary bytes as the client's first frames. The relay
// must reject them (or accept a valid ClientInfo) without panicking or hanging.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte{})
	f.Add(frame(FrameClientInfo, fuzzAlice.pub[:], make([]byte, 60)))
	f.Add(frame(FrameClientInfo, make([]byte, 10)))
	f.Add(header(FrameClientInfo, maxInfoLen+1))
	f.Add(header(FrameClientInfo, 0xffffffff))
	f.Add(frame(FrameSendPacket, fuzzBob.pub[:], []byte("early")))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewServer(nil)
		s.HandshakeTimeout = time.Second
		defer s.Close()
		nc, done := pipeConn(s)
		go io.Copy(io.Discard, nc)
		nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		nc.Write(data)
		nc.Close()
		waitDone(t, done, "a handshake")
		if n := s.clientCount(); n != 0 {
			t.Fatalf("%d clients registered from garbage", n)
		}
	})
}
