// Package noisetest is control's side of the ts2021 Noise IK handshake, for tests only: written
// straight from the Noise spec (§5, §7) with x/crypto's HKDF, as tailscale's controlbase.Server
// does, and independent of the client code in package noise it checks.
package noisetest

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

// Result is a finished responder handshake.
type Result struct {
	Response     []byte      // the 51-byte response to send
	ClientStatic [32]byte    // the client's machine public key
	Version      uint16      // the protocol version from the initiation header
	Rx           cipher.AEAD // decrypts what the client sends
	Tx           cipher.AEAD // encrypts what the server sends
}

type state struct{ h, ck [32]byte }

func (s *state) mixHash(data []byte) {
	s.h = blake2s.Sum256(append(append([]byte(nil), s.h[:]...), data...))
}

func (s *state) mixKey(priv, pub []byte) (cipher.AEAD, error) {
	shared, err := curve25519.X25519(priv, pub)
	if err != nil {
		return nil, err
	}
	kdf := hkdf.New(func() hash.Hash { h, _ := blake2s.New256(nil); return h }, shared, s.ck[:], nil)
	var k [32]byte
	io.ReadFull(kdf, s.ck[:])
	io.ReadFull(kdf, k[:])
	return chacha20poly1305.New(k[:])
}

// Respond consumes a 101-byte initiation with control's key pair and an ephemeral private key.
func Respond(controlPriv, controlPub, ephemeralPriv [32]byte, init []byte) (*Result, error) {
	if len(init) != 101 || init[2] != 1 || binary.BigEndian.Uint16(init[3:5]) != 96 {
		return nil, errors.New("malformed initiation")
	}
	version := binary.BigEndian.Uint16(init[0:2])
	zero := make([]byte, 12)
	s := &state{}
	s.h = blake2s.Sum256([]byte("Noise_IK_25519_ChaChaPoly_BLAKE2s"))
	s.ck = s.h
	s.mixHash([]byte("Tailscale Control Protocol v" + strconv.Itoa(int(version))))
	s.mixHash(controlPub[:])
	ce := init[5:37]
	s.mixHash(ce)
	aead, err := s.mixKey(controlPriv[:], ce)
	if err != nil {
		return nil, err
	}
	static, err := aead.Open(nil, zero, init[37:85], s.h[:])
	if err != nil {
		return nil, fmt.Errorf("cannot open the machine key: %v", err)
	}
	s.mixHash(init[37:85])
	if aead, err = s.mixKey(controlPriv[:], static); err != nil {
		return nil, err
	}
	if _, err := aead.Open(nil, zero, init[85:101], s.h[:]); err != nil {
		return nil, fmt.Errorf("initiation tag: %v", err)
	}
	s.mixHash(init[85:101])

	ephPub, err := curve25519.X25519(ephemeralPriv[:], curve25519.Basepoint)
	if err != nil {
		return nil, err
	}
	resp := []byte{2, 0, 48}
	resp = append(resp, ephPub...)
	s.mixHash(ephPub)
	if _, err := s.mixKey(ephemeralPriv[:], ce); err != nil {
		return nil, err
	}
	if aead, err = s.mixKey(ephemeralPriv[:], static); err != nil {
		return nil, err
	}
	resp = append(resp, aead.Seal(nil, zero, nil, s.h[:])...)
	kdf := hkdf.New(func() hash.Hash { h, _ := blake2s.New256(nil); return h }, nil, s.ck[:], nil)
	var k1, k2 [32]byte
	io.ReadFull(kdf, k1[:])
	io.ReadFull(kdf, k2[:])
	r := &Result{Response: resp, Version: version}
	copy(r.ClientStatic[:], static)
	r.Rx, _ = chacha20poly1305.New(k1[:])
	r.Tx, _ = chacha20poly1305.New(k2[:])
	return r, nil
}
