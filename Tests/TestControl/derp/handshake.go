package derp

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/box"
)

// ClientInfo is the JSON a client seals to the relay in its ClientInfo frame
// (derp.go ClientInfo). Unknown fields are ignored.
type ClientInfo struct {
	MeshKey     string `json:"meshKey,omitempty"`
	Version     int    `json:"version,omitempty"`
	CanAckPings bool   `json:"CanAckPings,omitempty"`
	IsProber    bool   `json:"IsProber,omitempty"`
	AppName     string `json:"AppName,omitempty"`
}

// serverInfo is the JSON the relay seals back (derp.go ServerInfo). Zero token
// bucket values mean "no rate limit".
type serverInfo struct {
	Version                   int `json:"version,omitempty"`
	TokenBucketBytesPerSecond int `json:",omitempty"`
	TokenBucketBytesBurst     int `json:",omitempty"`
}

// Handshake errors. They close the connection; nothing is sent back.
var (
	errNotClientInfo   = errors.New("derp: first client frame is not ClientInfo")
	errShortClientInfo = errors.New("derp: ClientInfo shorter than key + nonce + box")
	errLongClientInfo  = errors.New("derp: ClientInfo longer than 1 MiB")
	errClientInfoBox   = errors.New("derp: ClientInfo box does not open with the claimed key")
	errZeroClientKey   = errors.New("derp: ClientInfo carries the all-zero key")
)

// serverKeyFrame is the payload of the first frame the relay sends.
func serverKeyFrame(pub Key) []byte {
	b := make([]byte, 0, len(magic)+keyLen)
	b = append(b, magic...)
	return append(b, pub[:]...)
}

// sealTo boxes msg from priv to peer, nonce first (the layout of every DERP box).
func sealTo(priv, peer *[32]byte, msg []byte) ([]byte, error) {
	var nonce [nonceLen]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	return box.Seal(nonce[:], msg, &nonce, peer, priv), nil
}

// openFrom opens a nonce-first box sealed by peer to priv.
func openFrom(priv, peer *[32]byte, sealed []byte) ([]byte, bool) {
	if len(sealed) < nonceLen+boxOverhead {
		return nil, false
	}
	var nonce [nonceLen]byte
	copy(nonce[:], sealed)
	return box.Open(nil, sealed[nonceLen:], &nonce, peer, priv)
}

// readClientInfo reads and verifies the ClientInfo frame: the box must open
// with the claimed client key, which proves the client holds its private key.
func readClientInfo(br *bufio.Reader, priv *[32]byte) (Key, ClientInfo, error) {
	var k Key
	var info ClientInfo
	t, n, err := readFrameHeader(br)
	if err != nil {
		return k, info, err
	}
	if t != FrameClientInfo {
		return k, info, fmt.Errorf("%w (type %#x)", errNotClientInfo, byte(t))
	}
	if n < keyLen+nonceLen+boxOverhead {
		return k, info, errShortClientInfo
	}
	if n > maxInfoLen {
		return k, info, errLongClientInfo
	}
	if _, err := io.ReadFull(br, k[:]); err != nil {
		return k, info, err
	}
	sealed := make([]byte, n-keyLen)
	if _, err := io.ReadFull(br, sealed); err != nil {
		return k, info, err
	}
	if k.IsZero() {
		return k, info, errZeroClientKey
	}
	pub := [32]byte(k)
	msg, ok := openFrom(priv, &pub, sealed)
	if !ok {
		return k, info, errClientInfoBox
	}
	if err := json.Unmarshal(msg, &info); err != nil {
		return k, info, fmt.Errorf("derp: ClientInfo JSON: %w", err)
	}
	return k, info, nil
}

// serverInfoFrame is the sealed ServerInfo payload for client.
func serverInfoFrame(priv *[32]byte, client Key) ([]byte, error) {
	msg, err := json.Marshal(serverInfo{Version: protocolVersion})
	if err != nil {
		return nil, err
	}
	pub := [32]byte(client)
	return sealTo(priv, &pub, msg)
}
