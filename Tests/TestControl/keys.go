package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// Key text prefixes, as tailscale's types/key package spells them (machine.go, node.go, disco.go).
const (
	machinePublicPrefix = "mkey:"
	nodePublicPrefix    = "nodekey:"
	discoPublicPrefix   = "discokey:"
	privatePrefix       = "privkey:"
)

// rawKey is a Curve25519 key of 32 bytes; the typed keys below wrap it with their text prefix.
type rawKey [32]byte

func (k rawKey) isZero() bool { return k == rawKey{} }

func (k rawKey) text(prefix string) []byte {
	out := make([]byte, len(prefix)+64)
	copy(out, prefix)
	hex.Encode(out[len(prefix):], k[:])
	return out
}

// parseKeyText reads "<prefix><64 hex digits>"; an empty string is the zero key, as some clients
// send for keys they do not have.
func parseKeyText(prefix string, text []byte) (rawKey, error) {
	var k rawKey
	s := string(text)
	if s == "" {
		return k, nil
	}
	if !strings.HasPrefix(s, prefix) {
		return k, fmt.Errorf("key %q lacks the prefix %q", clip(s, 80), prefix)
	}
	s = s[len(prefix):]
	if len(s) != 64 {
		return k, fmt.Errorf("key with prefix %q has %d hex digits, want 64", prefix, len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, fmt.Errorf("key with prefix %q is not hex: %v", prefix, err)
	}
	return k, nil
}

// MachinePublic is a machine's (or this control server's) Noise static public key, "mkey:<hex>".
type MachinePublic struct{ rawKey }

func (k MachinePublic) MarshalText() ([]byte, error) { return k.text(machinePublicPrefix), nil }
func (k *MachinePublic) UnmarshalText(b []byte) (err error) {
	k.rawKey, err = parseKeyText(machinePublicPrefix, b)
	return err
}
func (k MachinePublic) String() string { return string(k.text(machinePublicPrefix)) }

// NodePublic is a node's WireGuard public key, "nodekey:<hex>".
type NodePublic struct{ rawKey }

func (k NodePublic) MarshalText() ([]byte, error) { return k.text(nodePublicPrefix), nil }
func (k *NodePublic) UnmarshalText(b []byte) (err error) {
	k.rawKey, err = parseKeyText(nodePublicPrefix, b)
	return err
}
func (k NodePublic) String() string { return string(k.text(nodePublicPrefix)) }

// ShortString is the abbreviated form used in logs, "[abcde]" as tailscale logs node keys.
func (k NodePublic) ShortString() string { return "[" + hex.EncodeToString(k.rawKey[:3]) + "]" }

// DiscoPublic is a node's disco public key, "discokey:<hex>".
type DiscoPublic struct{ rawKey }

func (k DiscoPublic) MarshalText() ([]byte, error) { return k.text(discoPublicPrefix), nil }
func (k *DiscoPublic) UnmarshalText(b []byte) (err error) {
	k.rawKey, err = parseKeyText(discoPublicPrefix, b)
	return err
}
func (k DiscoPublic) String() string { return string(k.text(discoPublicPrefix)) }

// MachinePrivate is this server's Noise static private key, "privkey:<hex>" in the state file.
type MachinePrivate struct{ rawKey }

func (k MachinePrivate) MarshalText() ([]byte, error) { return k.text(privatePrefix), nil }
func (k *MachinePrivate) UnmarshalText(b []byte) (err error) {
	k.rawKey, err = parseKeyText(privatePrefix, b)
	return err
}

// newPrivateKey returns a fresh, clamped Curve25519 private key.
func newPrivateKey() rawKey {
	var k rawKey
	if _, err := rand.Read(k[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	// RFC 7748 §5 clamping, as tailscale's key.NewMachine does.
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k
}

// publicKey returns the Curve25519 public key of priv.
func publicKey(priv rawKey) rawKey {
	var pub rawKey
	curve25519.ScalarBaseMult((*[32]byte)(&pub), (*[32]byte)(&priv))
	return pub
}

func (k MachinePrivate) Public() MachinePublic { return MachinePublic{publicKey(k.rawKey)} }

// clip shortens s for error messages that echo client input.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
