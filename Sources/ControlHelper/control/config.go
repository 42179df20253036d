// Package control is the helper's client of Tailscale's control protocol: it fetches control's key,
// upgrades to ts2021 (Noise IK over HTTP/1.1 upgrade, HTTP/2 inside), registers the node, runs the
// streaming map poll with reconnects, and reports netmap and state events.
package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"wirenet/Sources/ControlHelper/tailcfg"
)

// Config is the JSON configuration of wn_control_start (Docs/control-plane.md).
type Config struct {
	ControlURL string   `json:"controlURL"`
	AuthKey    string   `json:"authKey"`
	Hostname   string   `json:"hostname"`
	StateDir   string   `json:"stateDir"`
	Ephemeral  bool     `json:"ephemeral"`
	NodeKey    string   `json:"nodeKey"`
	DiscoKey   string   `json:"discoKey"`
	Endpoints  []string `json:"endpoints"`
	OS         string   `json:"os"`
	AppName    string   `json:"appName"`
}

// maxConfigSize bounds the configuration a caller may pass.
const maxConfigSize = 1 << 20

// ParseConfig reads and validates a configuration.
func ParseConfig(data []byte) (*Config, error) {
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("configuration is %d bytes, more than %d", len(data), maxConfigSize)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("configuration is not valid JSON for the helper: %v", err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) validate() error {
	if c.ControlURL == "" {
		return errors.New("configuration: controlURL is empty")
	}
	u, err := url.Parse(c.ControlURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("configuration: controlURL %q is not an http:// or https:// URL", c.ControlURL)
	}
	c.ControlURL = strings.TrimRight(c.ControlURL, "/")
	if c.StateDir == "" {
		return errors.New("configuration: stateDir is empty")
	}
	if c.Hostname == "" {
		return errors.New("configuration: hostname is empty")
	}
	if _, err := tailcfg.ParseKey(c.NodeKey, tailcfg.NodePublicPrefix); err != nil {
		return fmt.Errorf("configuration: nodeKey: %v", err)
	}
	if c.DiscoKey == "" {
		c.DiscoKey = tailcfg.DiscoPublicPrefix + strings.Repeat("0", 64)
	} else if _, err := tailcfg.ParseKey(c.DiscoKey, tailcfg.DiscoPublicPrefix); err != nil {
		return fmt.Errorf("configuration: discoKey: %v", err)
	}
	if err := validateEndpoints(c.Endpoints); err != nil {
		return fmt.Errorf("configuration: %v", err)
	}
	if c.OS == "" {
		c.OS = "linux"
	}
	if c.AppName == "" {
		c.AppName = "wirenet"
	}
	return nil
}

// maxEndpoints bounds the endpoints one update carries.
const maxEndpoints = 256

func validateEndpoints(eps []string) error {
	if len(eps) > maxEndpoints {
		return fmt.Errorf("%d endpoints, more than %d", len(eps), maxEndpoints)
	}
	for _, e := range eps {
		if _, err := netip.ParseAddrPort(e); err != nil {
			return fmt.Errorf("endpoint %q is not ip:port", e)
		}
	}
	return nil
}

// Update is the JSON of wn_control_update.
type Update struct {
	Endpoints []string `json:"endpoints"`
	DiscoKey  string   `json:"discoKey"`
	// PreferredDERP is this node's home DERP region (0: none yet); control passes it to peers
	// as the node's HomeDERP (tailcfg.NetInfo.PreferredDERP).
	PreferredDERP int `json:"preferredDERP,omitempty"`
}

// ParseUpdate reads and validates an endpoint update.
func ParseUpdate(data []byte) (*Update, error) {
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("update is %d bytes, more than %d", len(data), maxConfigSize)
	}
	var u Update
	if err := json.Unmarshal(data, &u); err != nil {
		return nil, fmt.Errorf("update is not valid JSON: %v", err)
	}
	if err := validateEndpoints(u.Endpoints); err != nil {
		return nil, err
	}
	if u.DiscoKey != "" {
		if _, err := tailcfg.ParseKey(u.DiscoKey, tailcfg.DiscoPublicPrefix); err != nil {
			return nil, fmt.Errorf("discoKey: %v", err)
		}
	}
	return &u, nil
}
