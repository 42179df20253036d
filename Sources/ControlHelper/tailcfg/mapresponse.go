package tailcfg

import (
	"encoding/json"
	"time"
)

// NodeID is a node's numeric id (tailcfg.NodeID).
type NodeID = int64

// NodeHostinfo is the part of a peer's Hostinfo the helper reads.
type NodeHostinfo struct {
	Hostname string `json:",omitempty"`
}

// Node is the part of tailcfg.Node the helper reads.
type Node struct {
	ID                NodeID
	StableID          string        `json:",omitempty"`
	Name              string        `json:",omitempty"`
	Key               string        `json:",omitempty"`
	KeyExpiry         time.Time     `json:",omitempty"`
	DiscoKey          string        `json:",omitempty"`
	Addresses         []string      `json:",omitempty"`
	AllowedIPs        []string      `json:",omitempty"`
	Endpoints         []string      `json:",omitempty"`
	LegacyDERPString  string        `json:"DERP,omitempty"`
	HomeDERP          int           `json:",omitempty"`
	Hostinfo          *NodeHostinfo `json:",omitempty"`
	LastSeen          *time.Time    `json:",omitempty"`
	Online            *bool         `json:",omitempty"`
	MachineAuthorized bool          `json:",omitempty"`
	Expired           bool          `json:",omitempty"`
}

// PeerChange is a patch to one peer (tailcfg.PeerChange): nil / zero fields are unchanged.
type PeerChange struct {
	NodeID     NodeID
	DERPRegion int        `json:",omitempty"`
	Endpoints  []string   `json:",omitempty"`
	Key        *string    `json:",omitempty"`
	DiscoKey   *string    `json:",omitempty"`
	Online     *bool      `json:",omitempty"`
	LastSeen   *time.Time `json:",omitempty"`
	KeyExpiry  *time.Time `json:",omitempty"`
}

// PortRange is an inclusive port range (tailcfg.PortRange).
type PortRange struct {
	First uint16
	Last  uint16
}

// NetPortRange is a destination of a filter rule (tailcfg.NetPortRange). IP is "*", an IP, a
// prefix or an "a-b" range; Bits is the deprecated prefix length for a bare IP.
type NetPortRange struct {
	IP    string
	Bits  *int `json:",omitempty"`
	Ports PortRange
}

// FilterRule is one rule of the packet filter (tailcfg.FilterRule). A rule with CapGrant and no
// DstPorts grants capabilities and matches no packets.
type FilterRule struct {
	SrcIPs   []string
	SrcBits  []int           `json:",omitempty"`
	DstPorts []NetPortRange  `json:",omitempty"`
	IPProto  []int           `json:",omitempty"`
	CapGrant json.RawMessage `json:",omitempty"`
}

// MapResponse is one message of the map stream (tailcfg.MapResponse). Nil fields mean "unchanged".
type MapResponse struct {
	KeepAlive         bool                    `json:",omitempty"`
	Node              *Node                   `json:",omitempty"`
	DERPMap           json.RawMessage         `json:",omitempty"`
	Peers             []*Node                 `json:",omitempty"`
	PeersChanged      []*Node                 `json:",omitempty"`
	PeersRemoved      []NodeID                `json:",omitempty"`
	PeersChangedPatch []*PeerChange           `json:",omitempty"`
	PeerSeenChange    map[NodeID]bool         `json:",omitempty"`
	OnlineChange      map[NodeID]bool         `json:",omitempty"`
	Domain            string                  `json:",omitempty"`
	PacketFilter      []FilterRule            `json:",omitempty"`
	PacketFilters     map[string][]FilterRule `json:",omitempty"`
	// PacketFilterSent and PacketFiltersSent record whether the fields were present at all (an
	// empty list is a change to "allow nothing"; absent is unchanged). Set by DecodeMapResponse.
	PacketFilterSent bool `json:"-"`
	// PacketFiltersNull lists PacketFilters keys sent as null (delete; "*" = clear all).
	PacketFiltersNull map[string]bool `json:"-"`
}

// DecodeMapResponse parses one MapResponse, keeping the presence information JSON's nil slices
// lose: `"PacketFilter": []` is a change, and a `null` entry in PacketFilters is a deletion.
func DecodeMapResponse(data []byte) (*MapResponse, error) {
	var resp MapResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, err
	}
	var presence struct {
		PacketFilter  json.RawMessage
		PacketFilters map[string]json.RawMessage
	}
	if err := json.Unmarshal(data, &presence); err != nil {
		return nil, err
	}
	resp.PacketFilterSent = len(presence.PacketFilter) > 0 && string(presence.PacketFilter) != "null"
	if resp.PacketFilterSent && resp.PacketFilter == nil {
		resp.PacketFilter = []FilterRule{}
	}
	if presence.PacketFilters != nil {
		if resp.PacketFilters == nil {
			resp.PacketFilters = map[string][]FilterRule{}
		}
		for k, v := range presence.PacketFilters {
			if string(v) == "null" {
				if resp.PacketFiltersNull == nil {
					resp.PacketFiltersNull = map[string]bool{}
				}
				resp.PacketFiltersNull[k] = true
				delete(resp.PacketFilters, k)
			} else if resp.PacketFilters[k] == nil {
				resp.PacketFilters[k] = []FilterRule{}
			}
		}
	}
	if string(resp.DERPMap) == "null" {
		resp.DERPMap = nil
	}
	return &resp, nil
}
