package main

// The tailnet: every node this server knows, the addresses and names it gave them, the auth keys,
// the policy, and the change signal that wakes the map streams.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// Address pools (tailscale's net/tsaddr: CGNATRange and TailscaleULARange). The n-th node gets
// 100.64.0.0 + n and fd7a:115c:a1e0:: + n; offsets are never reused, so an address stays with one node.
var (
	cgnatRange = netip.MustParsePrefix("100.64.0.0/10")
	ulaRange   = netip.MustParsePrefix("fd7a:115c:a1e0::/48")
	quad100    = netip.MustParseAddr("100.100.100.100") // tailscale's service address: never a node's
)

// logoutExpiry is the RegisterRequest.Expiry a client sends to log out (tailscale's direct.go
// sets time.Unix(123, 0)); any expiry in the past counts.
var logoutExpiry = time.Unix(123, 0)

// nodeRecord is one node. Exported fields are persisted in the state file.
type nodeRecord struct {
	ID                int64
	Key               NodePublic
	Machine           MachinePublic
	Disco             DiscoPublic
	Hostname          string // unique DNS label within the tailnet
	RequestedHostname string // what the client asked for, before sanitising and de-duplication
	Addr4             netip.Addr
	Addr6             netip.Addr
	Endpoints         []netip.AddrPort
	HomeDERP          int
	Hostinfo          json.RawMessage
	Created           time.Time
	Cap               int
	Ephemeral         bool
	Synthetic         bool
	External          bool // added through POST /test/nodes: keys and endpoints of a peer run elsewhere
	LoggedOut         bool
	LastSeen          time.Time

	online        bool
	streamGen     uint64 // which map stream is the node's current one; 0 = none
	version       uint64 // bumped on any change a peer can see
	structVersion uint64 // bumped on changes a PeerChange patch cannot express
}

type authKeyKind int

const (
	authKeyReusable authKeyKind = iota
	authKeyOneOff
	authKeyExpired
)

func (k authKeyKind) String() string {
	switch k {
	case authKeyOneOff:
		return "oneoff"
	case authKeyExpired:
		return "expired"
	default:
		return "reusable"
	}
}

func parseAuthKeyKind(s string) (authKeyKind, error) {
	switch s {
	case "", "reusable":
		return authKeyReusable, nil
	case "oneoff", "one-off":
		return authKeyOneOff, nil
	case "expired":
		return authKeyExpired, nil
	}
	return 0, fmt.Errorf("unknown auth key kind %q (want reusable, oneoff or expired)", s)
}

// tailnetConfig is what the server's flags decide about the tailnet.
type tailnetConfig struct {
	Domain         string
	EphemeralGrace time.Duration
	DERPMap        *DERPMap
	Logf           func(format string, args ...interface{})
}

type Tailnet struct {
	cfg tailnetConfig

	mu            sync.Mutex
	nodes         map[int64]*nodeRecord
	byKey         map[NodePublic]*nodeRecord
	names         map[string]int64 // host name → node ID
	nextID        int64
	nextAddr      uint32 // offset of the next address in both pools
	authKeys      map[string]authKeyKind
	usedKeys      map[string]bool // one-off keys already spent
	policy        []FilterRule
	policyVersion uint64
	versionClock  uint64
	streamClock   uint64
	changed       chan struct{} // closed (and replaced) on every change
	onDirty       func()        // asks the state writer to save
}

func newTailnet(cfg tailnetConfig) *Tailnet {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...interface{}) {}
	}
	return &Tailnet{
		cfg:           cfg,
		nodes:         map[int64]*nodeRecord{},
		byKey:         map[NodePublic]*nodeRecord{},
		names:         map[string]int64{},
		nextID:        1,
		nextAddr:      1,
		authKeys:      map[string]authKeyKind{},
		usedKeys:      map[string]bool{},
		policy:        allowAllPolicy(),
		policyVersion: 1,
		changed:       make(chan struct{}),
		onDirty:       func() {},
	}
}

func (t *Tailnet) addAuthKey(key string, kind authKeyKind) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.authKeys[key] = kind
}

// notifyLocked wakes every map stream and schedules a save.
func (t *Tailnet) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
	t.onDirty()
}

// touchLocked marks n changed; structural changes cannot be sent as a PeerChange patch.
func (t *Tailnet) touchLocked(n *nodeRecord, structural bool) {
	t.versionClock++
	n.version = t.versionClock
	if structural {
		n.structVersion = t.versionClock
	}
}

func (t *Tailnet) allocateAddressesLocked() (netip.Addr, netip.Addr, error) {
	for {
		off := t.nextAddr
		if off >= 1<<22-1 { // the /10 holds 2^22 addresses; the last is its broadcast address
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("address pool %v exhausted", cgnatRange)
		}
		t.nextAddr++
		base4 := cgnatRange.Addr().As4()
		v := binary.BigEndian.Uint32(base4[:]) + off
		var b4 [4]byte
		binary.BigEndian.PutUint32(b4[:], v)
		a4 := netip.AddrFrom4(b4)
		if a4 == quad100 {
			continue
		}
		b6 := ulaRange.Addr().As16()
		binary.BigEndian.PutUint32(b6[12:], off)
		return a4, netip.AddrFrom16(b6), nil
	}
}

// sanitizeHostname turns a client's host name into a DNS label: lower case letters, digits and
// dashes, at most 63 bytes, as tailscale's dnsname.SanitizeHostname does in spirit.
func sanitizeHostname(s string) string {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == ' ':
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	if out == "" {
		out = "node"
	}
	return out
}

// uniqueHostnameLocked picks base, or base-1, base-2, … (as tailscale de-duplicates names)
// so that no other node holds it.
func (t *Tailnet) uniqueHostnameLocked(base string, self int64) string {
	taken := func(name string) bool {
		id, ok := t.names[name]
		return ok && id != self
	}
	if !taken(base) {
		return base
	}
	for i := 1; ; i++ {
		suffix := fmt.Sprintf("-%d", i)
		stem := base
		if len(stem)+len(suffix) > 63 {
			stem = stem[:63-len(suffix)]
		}
		if name := stem + suffix; !taken(name) {
			return name
		}
	}
}

// setRequestedHostnameLocked records the host name from a client's Hostinfo and re-picks the
// node's unique name when it changed. Reports whether the assigned name changed.
func (t *Tailnet) setRequestedHostnameLocked(n *nodeRecord, requested string) bool {
	if requested == "" || (requested == n.RequestedHostname && n.Hostname != "") {
		return false
	}
	n.RequestedHostname = requested
	name := t.uniqueHostnameLocked(sanitizeHostname(requested), n.ID)
	if name == n.Hostname {
		return false
	}
	t.setHostnameLocked(n, name)
	return true
}

// setHostnameLocked gives n its unique name and keeps the name index.
func (t *Tailnet) setHostnameLocked(n *nodeRecord, name string) {
	if t.names[n.Hostname] == n.ID {
		delete(t.names, n.Hostname)
	}
	n.Hostname = name
	t.names[name] = n.ID
}

// forgetLocked drops n from every index.
func (t *Tailnet) forgetLocked(n *nodeRecord) {
	delete(t.nodes, n.ID)
	if t.byKey[n.Key] == n {
		delete(t.byKey, n.Key)
	}
	if t.names[n.Hostname] == n.ID {
		delete(t.names, n.Hostname)
	}
}

func (t *Tailnet) fqdn(n *nodeRecord) string {
	return n.Hostname + "." + t.cfg.Domain + "."
}

// wireNode is n as a tailcfg.Node; the caller holds t.mu.
func (t *Tailnet) wireNodeLocked(n *nodeRecord) *Node {
	online := n.online || n.External
	w := &Node{
		ID:                   n.ID,
		StableID:             fmt.Sprintf("n%d", n.ID),
		Name:                 t.fqdn(n),
		User:                 testUserID,
		Key:                  n.Key,
		Machine:              n.Machine,
		DiscoKey:             n.Disco,
		Addresses:            []netip.Prefix{netip.PrefixFrom(n.Addr4, 32), netip.PrefixFrom(n.Addr6, 128)},
		Endpoints:            append([]netip.AddrPort(nil), n.Endpoints...),
		HomeDERP:             n.HomeDERP,
		Hostinfo:             n.Hostinfo,
		Created:              n.Created,
		Cap:                  n.Cap,
		Online:               &online,
		MachineAuthorized:    true,
		ComputedName:         n.Hostname,
		ComputedNameWithHost: n.Hostname,
	}
	w.AllowedIPs = w.Addresses
	if n.HomeDERP != 0 {
		w.LegacyDERPString = fmt.Sprintf("127.3.3.40:%d", n.HomeDERP) // tailcfg.DerpMagicIP
	}
	if !n.LastSeen.IsZero() {
		ls := n.LastSeen
		w.LastSeen = &ls
	}
	if len(w.Hostinfo) == 0 {
		w.Hostinfo, _ = json.Marshal(map[string]string{"Hostname": n.Hostname})
	}
	return w
}

// visiblePeersLocked lists the nodes self sees, by ID.
func (t *Tailnet) visiblePeersLocked(self int64) []*nodeRecord {
	out := make([]*nodeRecord, 0, len(t.nodes))
	for _, n := range t.nodes {
		if n.ID != self && !n.LoggedOut {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// removeNodeLocked forgets n entirely (ephemeral nodes, admin removal).
func (t *Tailnet) removeNodeLocked(n *nodeRecord, why string) {
	t.forgetLocked(n)
	t.cfg.Logf("node %d (%s) removed: %s", n.ID, n.Hostname, why)
	t.notifyLocked()
}

// scheduleEphemeralRemovalLocked removes ephemeral n after the grace period unless a map stream
// of it is open by then.
func (t *Tailnet) scheduleEphemeralRemovalLocked(n *nodeRecord) {
	if !n.Ephemeral || t.cfg.EphemeralGrace < 0 {
		return
	}
	id, gen := n.ID, n.streamGen
	time.AfterFunc(t.cfg.EphemeralGrace, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		cur := t.nodes[id]
		if cur == nil || cur.online || cur.streamGen != gen {
			return
		}
		t.removeNodeLocked(cur, fmt.Sprintf("ephemeral, no map stream for %v", t.cfg.EphemeralGrace))
	})
}

// nodeByKey returns the live record for key registered by machine, or an error a client can read.
func (t *Tailnet) nodeForMachineLocked(key NodePublic, machine MachinePublic) (*nodeRecord, error) {
	n := t.byKey[key]
	if n == nil {
		return nil, fmt.Errorf("node key %s is not registered", key.ShortString())
	}
	if n.Machine != machine {
		return nil, fmt.Errorf("node key %s belongs to another machine", key.ShortString())
	}
	if n.LoggedOut {
		return nil, fmt.Errorf("node %s is logged out; register again with an auth key", n.Hostname)
	}
	return n, nil
}

// nodeSummary is a node as the admin endpoint /test/nodes lists it.
type nodeSummary struct {
	ID        int64            `json:"id"`
	Name      string           `json:"name"`
	Hostname  string           `json:"hostname"`
	NodeKey   NodePublic       `json:"nodeKey"`
	DiscoKey  DiscoPublic      `json:"discoKey"`
	Addresses []netip.Addr     `json:"addresses"`
	Endpoints []netip.AddrPort `json:"endpoints"`
	Online    bool             `json:"online"`
	Ephemeral bool             `json:"ephemeral"`
	Synthetic bool             `json:"synthetic"`
	External  bool             `json:"external"`
	LoggedOut bool             `json:"loggedOut"`
}

func (t *Tailnet) summaries(includeSynthetic bool) []nodeSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []nodeSummary{}
	for _, n := range t.nodes {
		if n.Synthetic && !includeSynthetic {
			continue
		}
		out = append(out, nodeSummary{
			ID: n.ID, Name: t.fqdn(n), Hostname: n.Hostname, NodeKey: n.Key, DiscoKey: n.Disco,
			Addresses: []netip.Addr{n.Addr4, n.Addr6},
			Endpoints: append([]netip.AddrPort{}, n.Endpoints...),
			Online:    n.online || n.External, Ephemeral: n.Ephemeral, Synthetic: n.Synthetic, External: n.External, LoggedOut: n.LoggedOut,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// removeByID removes a node (admin endpoint). Reports whether it existed.
func (t *Tailnet) removeByID(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[id]
	if n == nil {
		return false
	}
	t.removeNodeLocked(n, "removed by the admin endpoint")
	return true
}

// setPolicy replaces the packet filter every node receives.
func (t *Tailnet) setPolicy(rules []FilterRule) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.policy = rules
	t.policyVersion++
	t.cfg.Logf("policy replaced: %d rules", len(rules))
	t.notifyLocked()
}
