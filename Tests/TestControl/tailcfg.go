package main

// The subset of tailscale's tailcfg JSON types this server reads and writes. Field names and
// omission rules follow tailscale's tailcfg/tailcfg.go and tailcfg/derpmap.go; a client ignores
// fields it does not know, and this server ignores request fields it does not use.

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"time"
)

// KeyResponse answers GET /key?v=N (tailcfg.OverTLSPublicKeyResponse).
type KeyResponse struct {
	LegacyPublicKey MachinePublic `json:"legacyPublicKey"`
	PublicKey       MachinePublic `json:"publicKey"`
}

type RegisterAuth struct {
	AuthKey string `json:",omitempty"`
}

type RegisterRequest struct {
	Version    int
	NodeKey    NodePublic
	OldNodeKey NodePublic
	Auth       *RegisterAuth   `json:",omitempty"`
	Expiry     time.Time       // unix 123 means "log out"
	Followup   string          `json:",omitempty"`
	Hostinfo   json.RawMessage `json:",omitempty"`
	Ephemeral  bool            `json:",omitempty"`
}

type User struct {
	ID          int64
	LoginName   string `json:",omitempty"`
	DisplayName string
	Created     time.Time `json:",omitempty"`
}

type Login struct {
	ID          int64
	Provider    string
	LoginName   string
	DisplayName string
}

type UserProfile struct {
	ID          int64
	LoginName   string
	DisplayName string
}

type RegisterResponse struct {
	User              User
	Login             Login
	NodeKeyExpired    bool
	MachineAuthorized bool
	AuthURL           string
	Error             string `json:",omitempty"`
}

type MapRequest struct {
	Version   int
	Compress  string `json:",omitempty"`
	KeepAlive bool   `json:",omitempty"`
	NodeKey   NodePublic
	DiscoKey  DiscoPublic
	Stream    bool             `json:",omitempty"`
	Hostinfo  json.RawMessage  `json:",omitempty"`
	Endpoints []netip.AddrPort `json:",omitempty"`
	ReadOnly  bool             `json:",omitempty"`
	OmitPeers bool             `json:",omitempty"`
}

// hostinfoFields are the parts of a client's Hostinfo this server looks at.
type hostinfoFields struct {
	Hostname string `json:",omitempty"`
	NetInfo  *struct {
		PreferredDERP int `json:",omitempty"`
	} `json:",omitempty"`
}

// parseHostinfo accepts a client's Hostinfo only when it is a JSON object: it is passed on to
// every peer verbatim, and a string or number there would break their netmap decoding.
func parseHostinfo(raw json.RawMessage) (hostinfoFields, bool) {
	var hi hostinfoFields
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &hi) != nil {
		return hostinfoFields{}, false
	}
	return hi, true
}

// Node is tailcfg.Node as this server sends it (self and peers).
type Node struct {
	ID                   int64
	StableID             string
	Name                 string
	User                 int64
	Key                  NodePublic
	Machine              MachinePublic
	DiscoKey             DiscoPublic `json:",omitempty"`
	Addresses            []netip.Prefix
	AllowedIPs           []netip.Prefix
	Endpoints            []netip.AddrPort `json:",omitempty"`
	LegacyDERPString     string           `json:"DERP,omitempty"`
	HomeDERP             int              `json:",omitempty"`
	Hostinfo             json.RawMessage  `json:",omitempty"`
	Created              time.Time
	Cap                  int        `json:",omitempty"`
	LastSeen             *time.Time `json:",omitempty"`
	Online               *bool      `json:",omitempty"`
	MachineAuthorized    bool       `json:",omitempty"`
	ComputedName         string     `json:",omitempty"`
	ComputedNameWithHost string     `json:",omitempty"`
}

// PeerChange is tailcfg.PeerChange: a patch of a few fields of one peer.
type PeerChange struct {
	NodeID     int64
	DERPRegion int              `json:",omitempty"`
	Endpoints  []netip.AddrPort `json:",omitempty"`
	DiscoKey   *DiscoPublic     `json:",omitempty"`
	Online     *bool            `json:",omitempty"`
	LastSeen   *time.Time       `json:",omitempty"`
}

type PortRange struct {
	First uint16
	Last  uint16
}

type NetPortRange struct {
	IP    string
	Bits  *int `json:",omitempty"`
	Ports PortRange
}

// FilterRule is tailcfg.FilterRule; CapGrant is passed through untouched.
type FilterRule struct {
	SrcIPs   []string
	SrcBits  []int           `json:",omitempty"`
	DstPorts []NetPortRange  `json:",omitempty"`
	IPProto  []int           `json:",omitempty"`
	CapGrant json.RawMessage `json:",omitempty"`
}

type DNSConfig struct {
	Domains []string `json:",omitempty"`
	Proxied bool     `json:",omitempty"`
}

type DERPNode struct {
	Name             string
	RegionID         int
	HostName         string
	IPv4             string `json:",omitempty"`
	IPv6             string `json:",omitempty"`
	STUNPort         int    `json:",omitempty"`
	DERPPort         int    `json:",omitempty"`
	InsecureForTests bool   `json:",omitempty"`
}

type DERPRegion struct {
	RegionID   int
	RegionCode string
	RegionName string
	Nodes      []*DERPNode
}

type DERPMap struct {
	Regions            map[int]*DERPRegion
	OmitDefaultRegions bool `json:",omitempty"`
}

// MapResponse is tailcfg.MapResponse. PacketFilter is a pointer so that an empty, non-nil list
// ("block everything") is sent as [] while nil ("unchanged") is omitted, as tailcfg documents.
type MapResponse struct {
	KeepAlive         bool          `json:",omitempty"`
	Node              *Node         `json:",omitempty"`
	DERPMap           *DERPMap      `json:",omitempty"`
	Peers             []*Node       `json:",omitempty"`
	PeersChanged      []*Node       `json:",omitempty"`
	PeersRemoved      []int64       `json:",omitempty"`
	PeersChangedPatch []*PeerChange `json:",omitempty"`
	DNSConfig         *DNSConfig    `json:",omitempty"`
	Domain            string        `json:",omitempty"`
	PacketFilter      *[]FilterRule `json:",omitempty"`
	UserProfiles      []UserProfile `json:",omitempty"`
	ControlTime       *time.Time    `json:",omitempty"`
}

// isEmptyDelta reports whether a delta carries nothing a client would act on.
func (m *MapResponse) isEmptyDelta() bool {
	return m.Node == nil && m.DERPMap == nil && m.Peers == nil && len(m.PeersChanged) == 0 &&
		len(m.PeersRemoved) == 0 && len(m.PeersChangedPatch) == 0 && m.DNSConfig == nil &&
		m.PacketFilter == nil
}
