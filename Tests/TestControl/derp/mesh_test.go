package derp

import (
	"bytes"
	"testing"
)

func TestMeshWatcherSeesPeerPresentAndPeerGone(t *testing.T) {
	r := startRelay(t, func(s *Server) { s.MeshKey = "test-mesh-key" })
	a := r.dial(t, dialOptions{})
	w := r.dial(t, dialOptions{meshKey: "test-mesh-key"})
	w.writeFrame(FrameWatchConns, nil)

	body := w.next(FramePeerPresent)
	if len(body) != peerPresentLen || !bytes.Equal(body[:keyLen], a.pub[:]) {
		t.Fatalf("PeerPresent %x, want %x…", body, a.pub)
	}
	// 127.0.0.1 as a v4-mapped address, then the client's port, then "regular".
	if !bytes.Equal(body[keyLen:keyLen+16], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}) || body[peerPresentLen-1] != peerPresentIsRegular {
		t.Fatalf("PeerPresent address/flags %x", body[keyLen:])
	}
	b := r.dial(t, dialOptions{})
	if body := w.next(FramePeerPresent); !bytes.Equal(body[:keyLen], b.pub[:]) {
		t.Fatalf("PeerPresent %x, want %x…", body, b.pub)
	}
	b.nc.Close()
	if body := w.next(FramePeerGone); !bytes.Equal(body, append(b.pub[:], byte(PeerGoneDisconnected))) {
		t.Fatalf("PeerGone %x", body)
	}
}

func TestMeshFramesFromOrdinaryClientsCloseTheConnection(t *testing.T) {
	r := startRelay(t, func(s *Server) { s.MeshKey = "test-mesh-key" })
	a := r.dial(t, dialOptions{meshKey: "wrong"})
	a.writeFrame(FrameWatchConns, nil)
	a.expectClosed()
	b := r.dial(t, dialOptions{})
	c := r.dial(t, dialOptions{})
	b.writeFrame(FrameClosePeer, c.pub[:])
	b.expectClosed()
	c.roundTrip() // c is still connected
}
