package derp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Key is a Curve25519 public key: a node key on the wire, or the relay's own.
type Key [keyLen]byte

// String is a short hex prefix for logs.
func (k Key) String() string { return fmt.Sprintf("%x", k[:4]) }

// IsZero reports whether k is all zeros.
func (k Key) IsZero() bool { return k == Key{} }

// readFrameHeader reads one frame header. It does not bound the length: each
// caller checks it against the limit for the frame type.
func readFrameHeader(br *bufio.Reader) (FrameType, uint32, error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, 0, err
	}
	return FrameType(h[0]), binary.BigEndian.Uint32(h[1:]), nil
}

// writeFrameHeader writes the type byte and the big-endian length.
func writeFrameHeader(bw *bufio.Writer, t FrameType, n uint32) error {
	var h [frameHeaderLen]byte
	h[0] = byte(t)
	binary.BigEndian.PutUint32(h[1:], n)
	_, err := bw.Write(h[:])
	return err
}

// writeFrame writes a header and one payload.
func writeFrame(bw *bufio.Writer, t FrameType, payload []byte) error {
	if err := writeFrameHeader(bw, t, uint32(len(payload))); err != nil {
		return err
	}
	_, err := bw.Write(payload)
	return err
}

// looksLikeDisco reports whether a relayed payload is a disco message rather
// than WireGuard (disco.go LooksLikeDiscoWrapper).
func looksLikeDisco(p []byte) bool {
	return len(p) >= discoMinLen && string(p[:len(discoMagic)]) == discoMagic
}

// peerGonePayload is the body of a PeerGone frame.
func peerGonePayload(k Key, reason PeerGoneReason) []byte {
	b := make([]byte, 0, keyLen+1)
	b = append(b, k[:]...)
	return append(b, byte(reason))
}
