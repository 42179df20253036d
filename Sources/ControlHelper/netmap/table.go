package netmap

import (
	"bytes"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"wirenet/Sources/ControlHelper/tailcfg"
)

// derpMagicIP is the host of a LegacyDERPString "127.3.3.40:<region>" (tailcfg.DerpMagicIP).
const derpMagicIP = "127.3.3.40"

// Table is the full state of one map session, built from its MapResponses as tailscale's
// controlclient mapSession does (control/controlclient/map.go): Peers replaces the peer set,
// PeersRemoved / PeersChanged / PeerSeenChange / OnlineChange / PeersChangedPatch edit it, and
// PacketFilter / PacketFilters keep named filter chunks whose sorted concatenation is the filter.
//
// Per peer the table keeps only the normalised record the events carry (Peer), not the decoded
// tailcfg.Node: every edit a delta can make (tailcfg.PeerChange, PeerSeenChange, OnlineChange) is
// an edit of a Peer field, and dropping the rest (Hostinfo, capabilities, raw texts) is what keeps
// a 10,000-peer table small once the decoded MapResponse is garbage.
type Table struct {
	started      bool
	self         *tailcfg.Node
	domain       string
	peers        map[int64]*Peer
	namedFilters map[string][]tailcfg.FilterRule
	filter       []FilterRule
	derpMap      []byte
	// Peers seen in the same second (a full map's usual case) share one timestamp text.
	seenTexts, expiryTexts timeTexts
}

// timeTexts remembers the last timestamp text it made, so that equal consecutive times share it.
type timeTexts struct {
	unix int64
	text *string
}

func (c *timeTexts) of(at time.Time) *string {
	if c.text == nil || c.unix != at.Unix() {
		c.unix, c.text = at.Unix(), timeText(at)
	}
	return c.text
}

// NewTable returns the empty table a map session starts with.
func NewTable() *Table {
	return &Table{peers: map[int64]*Peer{}, namedFilters: map[string][]tailcfg.FilterRule{}, filter: []FilterRule{}}
}

// PeerCount is the number of peers in the table.
func (t *Table) PeerCount() int { return len(t.peers) }

// Apply merges one MapResponse. It returns the event to deliver (nil when nothing changed, e.g. a
// keep-alive) and problems worth logging (filter entries that could not be read). now is the
// time a PeerSeenChange "seen" stands for.
func (t *Table) Apply(resp *tailcfg.MapResponse, now time.Time) (*Event, []string) {
	var problems []string
	full := !t.started || len(resp.Peers) > 0
	changed := map[int64]bool{}
	var removed []int64
	selfChanged := false
	domainChanged := false

	if resp.Node != nil {
		t.self = resp.Node
		selfChanged = true
	}
	if resp.Domain != "" && resp.Domain != t.domain {
		t.domain = resp.Domain
		domainChanged = true
	}

	if len(resp.Peers) > 0 {
		// Not delta-encoded: the list is the whole peer set, and precludes the other peer edits.
		next := make(map[int64]*Peer, len(resp.Peers))
		for _, n := range resp.Peers {
			if n != nil {
				next[n.ID] = t.peerRecord(n)
			}
		}
		t.peers = next
	} else {
		for _, id := range resp.PeersRemoved {
			if _, ok := t.peers[id]; ok {
				delete(t.peers, id)
				removed = append(removed, id)
			}
		}
		for _, n := range resp.PeersChanged {
			if n != nil {
				t.peers[n.ID] = t.peerRecord(n)
				changed[n.ID] = true
			}
		}
		for id, seen := range resp.PeerSeenChange {
			p, ok := t.peers[id]
			if !ok {
				continue
			}
			c := *p
			if seen {
				c.LastSeen = t.seenTexts.of(now)
			} else {
				c.LastSeen = nil
			}
			t.peers[id] = &c
			changed[id] = true
		}
		for id, online := range resp.OnlineChange {
			p, ok := t.peers[id]
			if !ok {
				continue
			}
			c := *p
			v := online
			c.Online = &v
			t.peers[id] = &c
			changed[id] = true
		}
		for _, pc := range resp.PeersChangedPatch {
			if pc == nil {
				continue
			}
			p, ok := t.peers[pc.NodeID]
			if !ok {
				continue
			}
			c := *p
			t.applyPatch(&c, pc)
			t.peers[pc.NodeID] = &c
			changed[pc.NodeID] = true
		}
	}

	filterChanged := false
	if resp.PacketFilterSent || resp.PacketFilter != nil {
		t.namedFilters["base"] = resp.PacketFilter
		filterChanged = true
	}
	if resp.PacketFilters != nil || resp.PacketFiltersNull != nil {
		filterChanged = true
		if resp.PacketFiltersNull["*"] {
			t.namedFilters = map[string][]tailcfg.FilterRule{}
		}
		for k := range resp.PacketFiltersNull {
			delete(t.namedFilters, k)
		}
		for k, v := range resp.PacketFilters {
			if k != "*" || v != nil {
				t.namedFilters[k] = v
			}
		}
	}
	if filterChanged {
		names := make([]string, 0, len(t.namedFilters))
		for k := range t.namedFilters {
			names = append(names, k)
		}
		sort.Strings(names)
		var concat []tailcfg.FilterRule
		for _, k := range names {
			concat = append(concat, t.namedFilters[k]...)
		}
		t.filter, problems = NormalizeFilter(concat)
	}

	derpChanged := false
	if len(resp.DERPMap) > 0 && !bytes.Equal(resp.DERPMap, t.derpMap) {
		t.derpMap = append([]byte(nil), resp.DERPMap...)
		derpChanged = true
	}

	if full {
		t.started = true
		return t.fullEvent(), problems
	}
	// Drop ids that a later edit in the same response re-added from the removed list.
	kept := removed[:0]
	for _, id := range removed {
		if _, back := t.peers[id]; !back {
			kept = append(kept, id)
		}
	}
	removed = kept
	if len(changed) == 0 && len(removed) == 0 && !selfChanged && !domainChanged && !filterChanged && !derpChanged {
		return nil, problems
	}
	ev := &Event{Peers: []Peer{}, Removed: []int64{}}
	if selfChanged {
		ev.Self = t.selfRecord()
	}
	if domainChanged {
		d := t.domain
		ev.Domain = &d
	}
	for id := range changed {
		if p, ok := t.peers[id]; ok {
			ev.Peers = append(ev.Peers, *p)
		}
	}
	sort.Slice(ev.Peers, func(i, j int) bool { return ev.Peers[i].ID < ev.Peers[j].ID })
	ev.Removed = append(ev.Removed, removed...)
	sort.Slice(ev.Removed, func(i, j int) bool { return ev.Removed[i] < ev.Removed[j] })
	if filterChanged {
		f := t.filter
		ev.PacketFilter = &f
	}
	if derpChanged {
		ev.DERPMap = t.derpMap
	}
	return ev, problems
}

// HasSelf reports whether control has sent this node's own record yet.
func (t *Table) HasSelf() bool { return t.self != nil }

func (t *Table) fullEvent() *Event {
	ev := &Event{Full: true, Peers: make([]Peer, 0, len(t.peers)), Removed: []int64{}}
	ev.Self = t.selfRecord()
	d := t.domain
	ev.Domain = &d
	for _, p := range t.peers {
		ev.Peers = append(ev.Peers, *p)
	}
	sort.Slice(ev.Peers, func(i, j int) bool { return ev.Peers[i].ID < ev.Peers[j].ID })
	f := t.filter
	ev.PacketFilter = &f
	if t.derpMap != nil {
		ev.DERPMap = t.derpMap
	}
	return ev
}

// applyPatch edits a peer's record as tailscale's mapSession applies a PeerChange to its node
// (control/controlclient/map.go): a DERP region replaces the home DERP (and any legacy DERP
// text), endpoints are replaced whole, a zero key expiry means none.
func (t *Table) applyPatch(p *Peer, pc *tailcfg.PeerChange) {
	if pc.DERPRegion != 0 {
		p.HomeDERP = pc.DERPRegion
	}
	if pc.Endpoints != nil {
		p.Endpoints = endpoints(pc.Endpoints)
	}
	if pc.Key != nil {
		p.NodeKey = *pc.Key
	}
	if pc.DiscoKey != nil {
		p.DiscoKey = *pc.DiscoKey
	}
	if pc.Online != nil {
		v := *pc.Online
		p.Online = &v
	}
	if pc.LastSeen != nil {
		p.LastSeen = t.seenTexts.of(*pc.LastSeen)
	}
	if pc.KeyExpiry != nil {
		if pc.KeyExpiry.IsZero() {
			p.KeyExpiry = nil
		} else {
			p.KeyExpiry = t.expiryTexts.of(*pc.KeyExpiry)
		}
	}
}

func (t *Table) selfRecord() *Self {
	if t.self == nil {
		return nil
	}
	return &Self{
		ID:                t.self.ID,
		Name:              t.self.Name,
		NodeKey:           t.self.Key,
		Addresses:         prefixes(t.self.Addresses),
		MachineAuthorized: t.self.MachineAuthorized,
	}
}

// peerRecord normalises a node into its event record. AllowedIPs equal to Addresses (the usual
// case) share one slice.
func (t *Table) peerRecord(n *tailcfg.Node) *Peer {
	p := &Peer{
		ID:        n.ID,
		StableID:  n.StableID,
		Name:      n.Name,
		NodeKey:   n.Key,
		DiscoKey:  n.DiscoKey,
		Addresses: prefixes(n.Addresses),
		Endpoints: endpoints(n.Endpoints),
		HomeDERP:  n.HomeDERP,
		Online:    n.Online,
		Expired:   n.Expired,
	}
	if n.LastSeen != nil {
		p.LastSeen = t.seenTexts.of(*n.LastSeen)
	}
	if n.Hostinfo != nil && n.Hostinfo.Hostname != "" {
		p.Hostname = n.Hostinfo.Hostname
	} else if i := strings.IndexByte(n.Name, '.'); i > 0 {
		p.Hostname = n.Name[:i]
	} else {
		p.Hostname = n.Name
	}
	if p.HomeDERP == 0 && strings.HasPrefix(n.LegacyDERPString, derpMagicIP+":") {
		if region, err := strconv.Atoi(n.LegacyDERPString[len(derpMagicIP)+1:]); err == nil && region > 0 {
			p.HomeDERP = region
		}
	}
	if n.AllowedIPs != nil {
		p.AllowedIPs = prefixes(n.AllowedIPs)
		if sameStrings(p.AllowedIPs, p.Addresses) {
			p.AllowedIPs = p.Addresses
		}
	} else {
		p.AllowedIPs = p.Addresses // nil AllowedIPs means Addresses (capver 112)
	}
	if !n.KeyExpiry.IsZero() {
		p.KeyExpiry = t.expiryTexts.of(n.KeyExpiry)
	}
	return p
}

// prefixes normalises prefix texts (a bare IP becomes /32 or /128) and drops unreadable ones.
func prefixes(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if p, err := netip.ParsePrefix(s); err == nil {
			bits := p.Bits()
			if p.Addr().Is4In6() {
				if bits < 96 {
					continue
				}
				bits -= 96
			}
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), bits).String())
		} else if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap().WithZone("")
			out = append(out, netip.PrefixFrom(a, a.BitLen()).String())
		}
	}
	return out
}

// endpoints keeps the "ip:port" entries that parse, in canonical form.
func endpoints(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			out = append(out, ap.String())
		}
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
