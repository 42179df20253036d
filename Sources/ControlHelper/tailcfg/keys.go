// Package tailcfg holds the subset of tailscale's control-protocol types (tailcfg/tailcfg.go,
// types/key) that the helper sends and reads, with tailscale's JSON field names.
package tailcfg

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Key text prefixes (tailscale types/key/*.go).
const (
	NodePublicPrefix    = "nodekey:"
	DiscoPublicPrefix   = "discokey:"
	MachinePublicPrefix = "mkey:"
	PrivatePrefix       = "privkey:"
)

// ParseKey parses "<prefix><64 hex>" into 32 bytes.
func ParseKey(text, prefix string) ([32]byte, error) {
	var k [32]byte
	if !strings.HasPrefix(text, prefix) {
		return k, fmt.Errorf("key %q does not start with %q", shorten(text), prefix)
	}
	raw := text[len(prefix):]
	if len(raw) != 64 {
		return k, fmt.Errorf("key %q: want 64 hex digits after %q, got %d characters", shorten(text), prefix, len(raw))
	}
	if _, err := hex.Decode(k[:], []byte(raw)); err != nil {
		return k, fmt.Errorf("key %q is not hex: %v", shorten(text), err)
	}
	return k, nil
}

// FormatKey is the inverse of ParseKey.
func FormatKey(k [32]byte, prefix string) string { return prefix + hex.EncodeToString(k[:]) }

// IsZeroKey reports whether a key's text is all-zero hex (a zero key is sent as "nodekey:000…",
// never as an empty string).
func IsZeroKey(text string) bool {
	i := strings.IndexByte(text, ':')
	if i < 0 {
		return text == ""
	}
	return strings.Trim(text[i+1:], "0") == ""
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
