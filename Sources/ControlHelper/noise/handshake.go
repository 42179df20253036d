// Package noise is the base transport of Tailscale's 2021 control protocol ("ts2021"): a Noise IK
// handshake (Noise_IK_25519_ChaChaPoly_BLAKE2s) from the client's machine key to control's key,
// then ChaCha20-Poly1305 records. It follows tailscale's control/controlbase (handshake.go,
// messages.go, conn.go); the wire facts are in /work/shared/notes/tailscale-protocol.md §6.3.
package noise

import (
	"crypto/cipher"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
)

const (
	// protocolName is the Noise protocol name (Noise spec §8); its BLAKE2s hash seeds h and ck.
	protocolName = "Noise_IK_25519_ChaChaPoly_BLAKE2s"
	// prologuePrefix + decimal(version) is mixed in as the prologue (controlbase/handshake.go).
	prologuePrefix = "Tailscale Control Protocol v"

	// Message types (controlbase/messages.go).
	msgTypeInitiation = 1
	msgTypeResponse   = 2
	msgTypeError      = 3
	msgTypeRecord     = 4

	// InitiationSize is the initiation's size on the wire: u16be version | u8 type | u16be length |
	// 32 B ephemeral | 48 B sealed static | 16 B tag (controlbase/messages.go).
	InitiationSize = 5 + 96
	// responseSize: u8 type | u16be length | 32 B ephemeral | 16 B tag.
	responseSize = 3 + 48
	// responseHeaderSize is the header every non-initiation message starts with.
	responseHeaderSize = 3
)

// KeyPair is a Curve25519 key pair.
type KeyPair struct {
	Private [32]byte
	Public  [32]byte
}

// NewKeyPair derives the public half of a private key (clamping happens inside X25519).
func NewKeyPair(private [32]byte) (KeyPair, error) {
	pub, err := curve25519.X25519(private[:], curve25519.Basepoint)
	if err != nil {
		return KeyPair{}, err
	}
	var kp KeyPair
	kp.Private = private
	copy(kp.Public[:], pub)
	return kp, nil
}

// GenerateKeyPair makes a fresh key pair from the random source.
func GenerateKeyPair(random io.Reader) (KeyPair, error) {
	var priv [32]byte
	if _, err := io.ReadFull(random, priv[:]); err != nil {
		return KeyPair{}, fmt.Errorf("reading random bytes for a key: %w", err)
	}
	// Clamp as tailscale's key.NewMachine does, so the stored key is canonical.
	priv[0] &= 248
	priv[31] = (priv[31] & 127) | 64
	return NewKeyPair(priv)
}

// symmetricState is the Noise SymmetricState: handshake hash h and chaining key ck.
type symmetricState struct {
	h  [32]byte
	ck [32]byte
}

func newSymmetricState() symmetricState {
	var s symmetricState
	s.h = blake2s.Sum256([]byte(protocolName))
	s.ck = s.h
	return s
}

func (s *symmetricState) mixHash(data []byte) {
	h, _ := blake2s.New256(nil)
	h.Write(s.h[:])
	h.Write(data)
	h.Sum(s.h[:0])
}

func newBLAKE2s() hash.Hash {
	h, _ := blake2s.New256(nil) // only fails for an over-long key; there is none
	return h
}

// hkdf2 is Noise's HKDF with two outputs: HMAC-BLAKE2s extract with the chaining key as salt,
// then two expand blocks (Noise spec §4.3).
func hkdf2(chainingKey [32]byte, input []byte) (out1, out2 [32]byte) {
	mac := hmac.New(newBLAKE2s, chainingKey[:])
	mac.Write(input)
	prk := mac.Sum(nil)
	mac = hmac.New(newBLAKE2s, prk)
	mac.Write([]byte{0x01})
	mac.Sum(out1[:0])
	mac.Reset()
	mac.Write(out1[:])
	mac.Write([]byte{0x02})
	mac.Sum(out2[:0])
	return out1, out2
}

// mixDH mixes X25519(private, public) into ck and returns the AEAD keyed with the new k, used once
// with a zero nonce.
func (s *symmetricState) mixDH(private, public [32]byte) (cipher.AEAD, error) {
	shared, err := curve25519.X25519(private[:], public[:])
	if err != nil {
		return nil, fmt.Errorf("X25519: %w", err)
	}
	var k [32]byte
	s.ck, k = hkdf2(s.ck, shared)
	return chacha20poly1305.New(k[:])
}

var zeroNonce [chacha20poly1305.NonceSize]byte

func (s *symmetricState) encryptAndHash(aead cipher.AEAD, dst, plaintext []byte) {
	out := aead.Seal(dst[:0], zeroNonce[:], plaintext, s.h[:])
	s.mixHash(out)
}

func (s *symmetricState) decryptAndHash(aead cipher.AEAD, ciphertext []byte) error {
	if _, err := aead.Open(nil, zeroNonce[:], ciphertext, s.h[:]); err != nil {
		return err
	}
	s.mixHash(ciphertext)
	return nil
}

func (s *symmetricState) split() (c1, c2 cipher.AEAD) {
	k1, k2 := hkdf2(s.ck, nil)
	c1, _ = chacha20poly1305.New(k1[:])
	c2, _ = chacha20poly1305.New(k2[:])
	return c1, c2
}

// Prologue is the prologue for a protocol version.
func Prologue(version uint16) []byte {
	return strconv.AppendUint([]byte(prologuePrefix), uint64(version), 10)
}

// Initiator is a client handshake in flight: the initiation has been built, the response is awaited.
type Initiator struct {
	state     symmetricState
	machine   KeyPair
	ephemeral KeyPair
	control   [32]byte
	version   uint16
	// Message is the initiation to send (InitiationSize bytes).
	Message []byte
}

// Initiate builds the IK initiation (-> e, es, s, ss) from the machine key to control's key.
func Initiate(machine KeyPair, control [32]byte, version uint16, ephemeral KeyPair) (*Initiator, error) {
	s := newSymmetricState()
	s.mixHash(Prologue(version))
	s.mixHash(control[:]) // <- s (pre-message)

	msg := make([]byte, InitiationSize)
	binary.BigEndian.PutUint16(msg[0:2], version)
	msg[2] = msgTypeInitiation
	binary.BigEndian.PutUint16(msg[3:5], InitiationSize-5)
	copy(msg[5:37], ephemeral.Public[:])
	s.mixHash(ephemeral.Public[:])
	aead, err := s.mixDH(ephemeral.Private, control)
	if err != nil {
		return nil, fmt.Errorf("computing es: %w", err)
	}
	s.encryptAndHash(aead, msg[37:85], machine.Public[:])
	aead, err = s.mixDH(machine.Private, control)
	if err != nil {
		return nil, fmt.Errorf("computing ss: %w", err)
	}
	s.encryptAndHash(aead, msg[85:101], nil)
	return &Initiator{state: s, machine: machine, ephemeral: ephemeral, control: control, version: version, Message: msg}, nil
}

// ErrServerRefused carries the plaintext of a Noise error message from control.
type ErrServerRefused struct{ Message string }

func (e *ErrServerRefused) Error() string { return "control refused the handshake: " + e.Message }

// Finish reads control's response (<- e, ee, se) from r and returns the transport keys.
// It reads at most responseSize bytes, or a bounded error message.
func (i *Initiator) Finish(r io.Reader) (tx, rx cipher.AEAD, err error) {
	var hdr [responseHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, fmt.Errorf("reading the handshake response: %w", err)
	}
	length := int(binary.BigEndian.Uint16(hdr[1:3]))
	switch hdr[0] {
	case msgTypeResponse:
	case msgTypeError:
		msg := make([]byte, length) // at most 64 KiB
		if _, err := io.ReadFull(r, msg); err != nil {
			return nil, nil, fmt.Errorf("reading control's handshake error: %w", err)
		}
		return nil, nil, &ErrServerRefused{Message: string(msg)}
	default:
		return nil, nil, fmt.Errorf("unexpected handshake response type %d", hdr[0])
	}
	if length != responseSize-responseHeaderSize {
		return nil, nil, fmt.Errorf("handshake response has length %d, want %d", length, responseSize-responseHeaderSize)
	}
	var body [responseSize - responseHeaderSize]byte
	if _, err := io.ReadFull(r, body[:]); err != nil {
		return nil, nil, fmt.Errorf("reading the handshake response: %w", err)
	}
	var controlEphemeral [32]byte
	copy(controlEphemeral[:], body[:32])
	s := i.state
	s.mixHash(controlEphemeral[:])
	if _, err := s.mixDH(i.ephemeral.Private, controlEphemeral); err != nil {
		return nil, nil, fmt.Errorf("computing ee: %w", err)
	}
	aead, err := s.mixDH(i.machine.Private, controlEphemeral)
	if err != nil {
		return nil, nil, fmt.Errorf("computing se: %w", err)
	}
	if err := s.decryptAndHash(aead, body[32:]); err != nil {
		return nil, nil, errors.New("handshake response does not authenticate: wrong control key?")
	}
	tx, rx = s.split()
	return tx, rx, nil
}
