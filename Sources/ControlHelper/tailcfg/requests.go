package tailcfg

import "time"

// CapabilityVersion is the capability version this helper speaks (tailcfg.CapabilityVersion, also
// the ts2021 protocol version in the Noise prologue and initiation header). 130 is past every
// change the helper relies on: Noise (28), delta map responses, AllowedIPs nil meaning Addresses
// (112), and before the 429 register handling (137) whose retry-after semantics we do not implement.
const CapabilityVersion = 130

// OverTLSPublicKeyResponse is the answer to GET /key (tailcfg.OverTLSPublicKeyResponse).
type OverTLSPublicKeyResponse struct {
	LegacyPublicKey string `json:"legacyPublicKey"`
	PublicKey       string `json:"publicKey"`
}

// Hostinfo is the part of tailcfg.Hostinfo the helper fills in.
type Hostinfo struct {
	IPNVersion string `json:",omitempty"`
	OS         string `json:",omitempty"`
	Hostname   string `json:",omitempty"`
	App        string `json:",omitempty"`
	// NetInfo carries the node's home DERP region (tailcfg.NetInfo; only PreferredDERP is filled).
	NetInfo *NetInfo `json:",omitempty"`
}

// NetInfo is the part of tailcfg.NetInfo the helper fills in.
type NetInfo struct {
	PreferredDERP int `json:",omitempty"`
}

// RegisterResponseAuth carries the auth key (tailcfg.RegisterResponseAuth).
type RegisterResponseAuth struct {
	AuthKey string `json:",omitempty"`
}

// RegisterRequest is POSTed to /machine/register (tailcfg.RegisterRequest).
type RegisterRequest struct {
	Version    int
	NodeKey    string
	OldNodeKey string
	Auth       *RegisterResponseAuth `json:",omitempty"`
	Expiry     time.Time
	Followup   string    `json:",omitempty"`
	Hostinfo   *Hostinfo `json:",omitempty"`
	Ephemeral  bool      `json:",omitempty"`
}

// LogoutExpiry is the Expiry a logout sends: unix 123 (tailscale direct.go doLogin).
var LogoutExpiry = time.Unix(123, 0).UTC()

// User is the part of tailcfg.User the helper reads.
type User struct {
	ID          int64
	DisplayName string `json:",omitempty"`
}

// Login is the part of tailcfg.Login the helper reads.
type Login struct {
	ID        int64
	LoginName string `json:",omitempty"`
}

// RegisterResponse is /machine/register's answer (tailcfg.RegisterResponse).
type RegisterResponse struct {
	User              User
	Login             Login
	NodeKeyExpired    bool
	MachineAuthorized bool
	AuthURL           string
	Error             string
}

// MapRequest is POSTed to /machine/map (tailcfg.MapRequest).
type MapRequest struct {
	Version   int
	Compress  string
	KeepAlive bool
	NodeKey   string
	DiscoKey  string
	Endpoints []string `json:",omitempty"`
	Stream    bool
	Hostinfo  *Hostinfo `json:",omitempty"`
	OmitPeers bool      `json:",omitempty"`
}
