package main

// Synthetic peers for scale tests: nodes with random keys and endpoints that exist only in the
// netmap. Their endpoints are in 198.18.0.0/15 (RFC 2544 benchmarking space), so a client that
// tries to reach one sends nothing to a real network.

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// maxSynthetic bounds one request, so that a typo cannot exhaust memory.
const maxSynthetic = 100000

func (t *Tailnet) addSynthetic(count int) (int, error) {
	if count < 1 || count > maxSynthetic {
		return 0, fmt.Errorf("synthetic peer count %d is outside 1…%d", count, maxSynthetic)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Second)
	for i := 0; i < count; i++ {
		a4, a6, err := t.allocateAddressesLocked()
		if err != nil {
			t.notifyLocked()
			return i, err
		}
		var rnd [4]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return i, err
		}
		ep := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18 + rnd[0]&1, rnd[1], rnd[2]}),
			1024+binary.BigEndian.Uint16(rnd[2:])%60000)
		n := &nodeRecord{
			ID: t.nextID, Key: NodePublic{randomKey()}, Machine: MachinePublic{randomKey()},
			Disco: DiscoPublic{randomKey()}, Addr4: a4, Addr6: a6,
			Endpoints: []netip.AddrPort{ep}, Created: now, Cap: 106, Synthetic: true, LastSeen: now,
		}
		t.nextID++
		n.RequestedHostname = fmt.Sprintf("synthetic-%d", n.ID)
		t.setHostnameLocked(n, t.uniqueHostnameLocked(n.RequestedHostname, n.ID))
		n.Hostinfo, _ = json.Marshal(map[string]string{"Hostname": n.Hostname, "OS": "linux"})
		t.nodes[n.ID] = n
		t.byKey[n.Key] = n
		t.touchLocked(n, true)
	}
	t.cfg.Logf("added %d synthetic peers", count)
	t.notifyLocked()
	return count, nil
}

// churnSynthetic gives up to count synthetic peers (lowest IDs first) a new random endpoint port,
// so that every map stream gets one PeersChangedPatch delta naming them (scale tests of deltas).
func (t *Tailnet) churnSynthetic(count int) (int, error) {
	if count < 1 || count > maxSynthetic {
		return 0, fmt.Errorf("churn count %d is outside 1…%d", count, maxSynthetic)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []int64
	for id, n := range t.nodes {
		if n.Synthetic {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if len(ids) > count {
		ids = ids[:count]
	}
	for _, id := range ids {
		n := t.nodes[id]
		var rnd [2]byte
		rand.Read(rnd[:])
		port := 1024 + binary.BigEndian.Uint16(rnd[:])%60000
		if len(n.Endpoints) > 0 && n.Endpoints[0].Port() == port {
			port++
		}
		addr := netip.AddrFrom4([4]byte{198, 18, 0, 1})
		if len(n.Endpoints) > 0 {
			addr = n.Endpoints[0].Addr()
		}
		n.Endpoints = []netip.AddrPort{netip.AddrPortFrom(addr, port)}
		t.touchLocked(n, false)
	}
	if len(ids) > 0 {
		t.notifyLocked()
	}
	return len(ids), nil
}

// randomKey returns 32 random bytes: a synthetic peer's keys are never used for Diffie-Hellman,
// so they need not be derived from private keys (which costs ~0.2 ms each).
func randomKey() rawKey {
	var k rawKey
	if _, err := rand.Read(k[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return k
}

// removeSynthetic removes every synthetic peer and returns how many there were.
func (t *Tailnet) removeSynthetic() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	removed := 0
	for _, n := range t.nodes {
		if n.Synthetic {
			t.forgetLocked(n)
			removed++
		}
	}
	if removed > 0 {
		t.cfg.Logf("removed %d synthetic peers", removed)
		t.notifyLocked()
	}
	return removed
}

// externalNode describes a peer that runs outside this server's clients (POST /test/nodes), e.g.
// a wireguard-go peer or a probe: the caller holds its private keys and serves its endpoints.
type externalNode struct {
	Hostname  string           `json:"hostname"`
	NodeKey   NodePublic       `json:"nodeKey"`
	DiscoKey  DiscoPublic      `json:"discoKey"`
	Endpoints []netip.AddrPort `json:"endpoints"`
}

// addExternal adds an external peer, always online, and returns its summary.
func (t *Tailnet) addExternal(e externalNode) (nodeSummary, error) {
	if e.NodeKey.isZero() {
		return nodeSummary{}, fmt.Errorf("nodeKey is required")
	}
	t.mu.Lock()
	if t.byKey[e.NodeKey] != nil {
		t.mu.Unlock()
		return nodeSummary{}, fmt.Errorf("node key %s is already registered", e.NodeKey.ShortString())
	}
	a4, a6, err := t.allocateAddressesLocked()
	if err != nil {
		t.mu.Unlock()
		return nodeSummary{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	n := &nodeRecord{
		ID: t.nextID, Key: e.NodeKey, Machine: MachinePublic{publicKey(newPrivateKey())}, Disco: e.DiscoKey,
		Addr4: a4, Addr6: a6, Endpoints: usableEndpoints(e.Endpoints), Created: now, Cap: 106, External: true,
	}
	t.nextID++
	t.nodes[n.ID] = n
	t.byKey[n.Key] = n
	if e.Hostname == "" {
		e.Hostname = fmt.Sprintf("external-%d", n.ID)
	}
	t.setRequestedHostnameLocked(n, e.Hostname)
	n.Hostinfo, _ = json.Marshal(map[string]string{"Hostname": n.Hostname})
	t.touchLocked(n, true)
	t.cfg.Logf("external node %d added: %s %v %v endpoints %v", n.ID, t.fqdn(n), a4, a6, n.Endpoints)
	t.notifyLocked()
	id := n.ID
	t.mu.Unlock()
	for _, s := range t.summaries(true) {
		if s.ID == id {
			return s, nil
		}
	}
	return nodeSummary{}, fmt.Errorf("node %d vanished", id)
}
