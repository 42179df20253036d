// Package netmap merges the map stream's delta-encoded MapResponses into a full table and turns each
// change into the netmap event Docs/control-plane.md defines for the Swift side.
package netmap

import (
	"encoding/json"
	"time"
)

// Self is this node as control sees it.
type Self struct {
	ID                int64    `json:"id"`
	Name              string   `json:"name"`
	NodeKey           string   `json:"nodeKey"`
	Addresses         []string `json:"addresses"`
	MachineAuthorized bool     `json:"machineAuthorized"`
}

// Peer is one peer's complete current record.
type Peer struct {
	ID         int64      `json:"id"`
	StableID   string     `json:"stableID"`
	Name       string     `json:"name"`
	Hostname   string     `json:"hostname"`
	NodeKey    string     `json:"nodeKey"`
	DiscoKey   string     `json:"discoKey"`
	Addresses  []string   `json:"addresses"`
	AllowedIPs []string   `json:"allowedIPs"`
	Endpoints  []string   `json:"endpoints"`
	HomeDERP   int        `json:"homeDERP"`
	Online     *bool      `json:"online"`
	LastSeen   *time.Time `json:"lastSeen"`
	KeyExpiry  *time.Time `json:"keyExpiry"`
	Expired    bool       `json:"expired"`
}

// Event is one netmap event: a full map (replace everything) or a delta (only what changed).
type Event struct {
	Full bool `json:"full"`
	// Self is present in full events, and in deltas when control sent a changed self node.
	Self *Self `json:"self,omitempty"`
	// Domain is present in full events, and in deltas when it changed.
	Domain *string `json:"domain,omitempty"`
	// Peers: every peer (full) or the added and changed ones (delta), sorted by id.
	Peers []Peer `json:"peers"`
	// Removed: ids of peers that left (always empty in a full event), sorted.
	Removed []int64 `json:"removed"`
	// PacketFilter is present in full events and when the filter changed.
	PacketFilter *[]FilterRule `json:"packetFilter,omitempty"`
	// DERPMap is control's DERPMap as received, present when known in a full event or changed.
	DERPMap json.RawMessage `json:"derpMap,omitempty"`
}
