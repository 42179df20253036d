package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// peerConfig is the subset of the wg-quick configuration format the harness writes (the same
// file a WireNet row gets with `wirenet up --config FILE`).
type peerConfig struct {
	addresses []netip.Prefix
	mtu       int
	uapi      strings.Builder // wireguard-go IPC "set" text
	peerKey   string          // public_key line of the [Peer] being read
	peerLines []string        // its other lines: IPC wants public_key first
}

// flushPeer appends the [Peer] being read to the IPC text, public_key first.
func (c *peerConfig) flushPeer() error {
	if c.peerKey == "" {
		if len(c.peerLines) > 0 {
			return fmt.Errorf("[Peer] without PublicKey")
		}
		return nil
	}
	c.uapi.WriteString(c.peerKey)
	for _, l := range c.peerLines {
		c.uapi.WriteString(l)
	}
	c.peerKey, c.peerLines = "", nil
	return nil
}

// loadConfig reads an [Interface] + [Peer]... file: PrivateKey, ListenPort, Address, MTU;
// PublicKey, PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive.
func loadConfig(path string) (*peerConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg := &peerConfig{mtu: 1420}
	section := ""
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		if strings.HasPrefix(text, "[") {
			if err := cfg.flushPeer(); err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
			section = strings.ToLower(strings.Trim(text, "[]"))
			if section != "interface" && section != "peer" {
				return nil, fmt.Errorf("%s:%d: unknown section %s", path, line, text)
			}
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected Key = Value", path, line)
		}
		key = strings.ToLower(strings.TrimSpace(key))
		value = strings.TrimSpace(value)
		if err := cfg.set(section, key, value); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := cfg.flushPeer(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(cfg.addresses) == 0 {
		return nil, fmt.Errorf("%s: [Interface] needs an Address", path)
	}
	return cfg, nil
}

func (c *peerConfig) set(section, key, value string) error {
	switch section + "." + key {
	case "interface.privatekey":
		l, err := keyLine("private_key", value)
		c.uapi.WriteString(l)
		return err
	case "interface.listenport":
		fmt.Fprintf(&c.uapi, "listen_port=%s\n", value)
	case "interface.address":
		for _, a := range strings.Split(value, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(a))
			if err != nil {
				return err
			}
			c.addresses = append(c.addresses, p)
		}
	case "interface.mtu":
		m, err := strconv.Atoi(value)
		if err != nil || m < 1280 || m > 65535 {
			return fmt.Errorf("bad MTU %q", value)
		}
		c.mtu = m
	case "peer.publickey":
		if c.peerKey != "" {
			return fmt.Errorf("second PublicKey in one [Peer]")
		}
		l, err := keyLine("public_key", value)
		c.peerKey = l
		return err
	case "peer.presharedkey":
		l, err := keyLine("preshared_key", value)
		c.peerLines = append(c.peerLines, l)
		return err
	case "peer.endpoint":
		c.peerLines = append(c.peerLines, "endpoint="+value+"\n")
	case "peer.allowedips":
		for _, a := range strings.Split(value, ",") {
			c.peerLines = append(c.peerLines, "allowed_ip="+strings.TrimSpace(a)+"\n")
		}
	case "peer.persistentkeepalive":
		c.peerLines = append(c.peerLines, "persistent_keepalive_interval="+value+"\n")
	default:
		return fmt.Errorf("unsupported key %q in [%s]", key, section)
	}
	return nil
}

// keyLine converts a base64 WireGuard key to an IPC line with the key in hex.
func keyLine(name, b64 string) (string, error) {
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(k) != 32 {
		return "", fmt.Errorf("%s: not a base64 32-byte key", name)
	}
	return name + "=" + hex.EncodeToString(k) + "\n", nil
}
