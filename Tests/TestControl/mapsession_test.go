package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFirstMapMessageCarriesSelfPeersFilterDomainAndDNS(t *testing.T) {
	for _, compress := range []bool{false, true} {
		ts := newTestServer(t, nil)
		b := ts.newNode()
		b.mustRegister("good", "b", false)
		b.update("192.0.2.7:41641")
		a := ts.newNode()
		a.mustRegister("good", "a", false)
		m := a.stream(compress).next()
		if m.Node == nil || m.Node.Name != "a.tailnet.test." || m.Node.Key != a.node || len(m.Node.Addresses) != 2 {
			t.Fatalf("compress=%v: self %+v", compress, m.Node)
		}
		if len(m.Peers) != 1 || m.Peers[0].Key != b.node || m.Peers[0].DiscoKey != b.disco ||
			len(m.Peers[0].Endpoints) != 1 || m.Peers[0].Endpoints[0].String() != "192.0.2.7:41641" ||
			len(m.Peers[0].AllowedIPs) != 2 {
			t.Fatalf("compress=%v: peers %+v", compress, m.Peers)
		}
		if m.PacketFilter == nil || len(*m.PacketFilter) != 1 || (*m.PacketFilter)[0].SrcIPs[0] != "*" {
			t.Fatalf("compress=%v: filter %+v", compress, m.PacketFilter)
		}
		if m.Domain != "tailnet.test" || m.DNSConfig == nil || len(m.UserProfiles) != 1 || m.DERPMap != nil {
			t.Fatalf("compress=%v: domain %q dns %+v profiles %v derp %v", compress, m.Domain, m.DNSConfig, m.UserProfiles, m.DERPMap)
		}
	}
}

func TestStreamSendsDeltasWhenPeersJoinChangeGoOfflineAndLeave(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.newNode()
	a.mustRegister("good", "a", false)
	ms := a.stream(true)
	if m := ms.next(); len(m.Peers) != 0 {
		t.Fatalf("peers before anyone joined: %v", m.Peers)
	}

	b := ts.newNode()
	b.mustRegister("good", "b", false)
	m := ms.nextWhere("PeersChanged", func(m *MapResponse) bool { return len(m.PeersChanged) > 0 })
	if m.PeersChanged[0].Key != b.node || m.Peers != nil {
		t.Fatalf("join delta %+v", m)
	}
	var bID = m.PeersChanged[0].ID

	bs := b.stream(false)
	bs.next()
	m = ms.nextWhere("b online", func(m *MapResponse) bool { return len(m.PeersChangedPatch) > 0 })
	if p := m.PeersChangedPatch[0]; p.NodeID != bID || p.Online == nil || !*p.Online {
		t.Fatalf("online patch %+v", p)
	}

	b.update("192.0.2.8:1000", "[2001:db8::8]:1000", "[fe80::1]:1000")
	m = ms.nextWhere("b endpoints", func(m *MapResponse) bool { return len(m.PeersChangedPatch) > 0 })
	p := m.PeersChangedPatch[0]
	if len(p.Endpoints) != 2 || p.DiscoKey == nil || *p.DiscoKey != b.disco {
		t.Fatalf("endpoint patch %+v (link-local must be dropped)", p)
	}

	bs.close()
	m = ms.nextWhere("b offline", func(m *MapResponse) bool { return len(m.PeersChangedPatch) > 0 })
	if p := m.PeersChangedPatch[0]; p.Online == nil || *p.Online || p.LastSeen == nil {
		t.Fatalf("offline patch %+v", p)
	}

	if !ts.tailnet.removeByID(bID) {
		t.Fatal("remove")
	}
	m = ms.nextWhere("PeersRemoved", func(m *MapResponse) bool { return len(m.PeersRemoved) > 0 })
	if len(m.PeersRemoved) != 1 || m.PeersRemoved[0] != bID {
		t.Fatalf("removed %v", m.PeersRemoved)
	}
}

func TestStreamingPollWithZeroDiscoKeyAndEndpointsKeepsTheLastValues(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.newNode()
	a.mustRegister("good", "a", false)
	a.update("192.0.2.9:5000")
	a.stream(false).next() // zero DiscoKey, no Endpoints, as Go clients send
	got := ts.tailnet.summaries(false)[0]
	if got.DiscoKey != a.disco || len(got.Endpoints) != 1 {
		t.Fatalf("a streaming poll clobbered the node: %+v", got)
	}
}

func TestNonStreamingMapAnswersOnceAndOmitPeersLeavesPeersOut(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.newNode().mustRegister("good", "b", false)
	a := ts.newNode()
	a.mustRegister("good", "a", false)
	for _, omit := range []bool{false, true} {
		resp := a.post(context.Background(), "/machine/map", MapRequest{Version: testCapVersion, NodeKey: a.node, OmitPeers: omit})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		frame, err := readFrame(bytes.NewReader(body), false)
		if err != nil {
			t.Fatal(err)
		}
		if 4+len(frame) != len(body) {
			t.Fatalf("omit=%v: %d bytes after one frame", omit, len(body)-4-len(frame))
		}
		var m MapResponse
		json.Unmarshal(frame, &m)
		if m.Node == nil || (len(m.Peers) == 1) == omit {
			t.Fatalf("omit=%v: node %v, %d peers", omit, m.Node != nil, len(m.Peers))
		}
	}
}

func TestKeepAlivesArriveOnAnIdleStream(t *testing.T) {
	ts := newTestServer(t, func(_ *tailnetConfig, s *controlServer) {
		s.mapSettings = mapSettings{KeepAlive: 30 * time.Millisecond, KeepAliveJitter: 10 * time.Millisecond}
	})
	a := ts.newNode()
	a.mustRegister("good", "a", false)
	ms := a.stream(true)
	ms.next()
	for i := 0; i < 2; i++ {
		select {
		case m := <-ms.msgs:
			if !m.KeepAlive || m.Node != nil {
				t.Fatalf("expected a bare keep-alive, got %+v", m)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("no keep-alive")
		}
	}
}

func TestANewStreamOfTheSameNodeEndsTheOldOne(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.newNode()
	a.mustRegister("good", "a", false)
	old := a.stream(false)
	old.next()
	a.stream(false).next()
	if !old.ended(2 * time.Second) {
		t.Fatal("the replaced stream stayed open")
	}
	if !ts.tailnet.summaries(false)[0].Online {
		t.Fatal("the node went offline when its old stream ended")
	}
}

func TestEphemeralNodeIsRemovedWhenItsStreamStaysGoneForTheGracePeriod(t *testing.T) {
	ts := newTestServer(t, func(c *tailnetConfig, _ *controlServer) { c.EphemeralGrace = time.Second })
	w := ts.newNode()
	w.mustRegister("good", "watcher", false)
	ws := w.stream(false)
	ws.next()

	e := ts.newNode()
	e.mustRegister("good", "eph", true)
	es := e.stream(false)
	es.next()
	time.Sleep(1500 * time.Millisecond) // longer than the grace period: a live stream keeps it
	if len(ts.tailnet.summaries(false)) != 2 {
		t.Fatal("an ephemeral node with an open stream was removed")
	}
	// A short gap (reconnect) within the grace period keeps it too.
	es.close()
	time.Sleep(50 * time.Millisecond)
	es = e.stream(false)
	es.next()
	time.Sleep(1200 * time.Millisecond)
	if len(ts.tailnet.summaries(false)) != 2 {
		t.Fatal("an ephemeral node that reconnected within the grace period was removed")
	}
	start := time.Now()
	es.close()
	ws.nextWhere("PeersRemoved", func(m *MapResponse) bool { return len(m.PeersRemoved) == 1 })
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("removed after %v, before the grace period", d)
	}
}

func TestPolicyChangesReachOpenStreamsAndAnEmptyPolicyIsSentAsEmptyList(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.newNode()
	a.mustRegister("good", "a", false)
	ms := a.stream(false)
	ms.next()

	post := func(body string) int {
		resp, err := http.Post(ts.http.URL+"/test/policy", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(`[{"SrcIPs":["100.64.0.1"],"DstPorts":[{"IP":"100.64.0.2/32","Ports":{"First":80,"Last":80}}],"IPProto":[6]}]`); code != 200 {
		t.Fatalf("status %d", code)
	}
	m := ms.nextWhere("PacketFilter", func(m *MapResponse) bool { return m.PacketFilter != nil })
	if f := *m.PacketFilter; len(f) != 1 || f[0].SrcIPs[0] != "100.64.0.1" || f[0].DstPorts[0].Ports.First != 80 || f[0].IPProto[0] != 6 {
		t.Fatalf("filter %+v", f)
	}
	if code := post(`[]`); code != 200 {
		t.Fatalf("status %d", code)
	}
	m = ms.nextWhere("PacketFilter", func(m *MapResponse) bool { return m.PacketFilter != nil })
	if len(*m.PacketFilter) != 0 {
		t.Fatalf("filter %+v, want []", *m.PacketFilter)
	}
	for _, bad := range []string{`{}`, `null`, `[{"SrcIPs":[]}]`, `[{"SrcIPs":["x"],"DstPorts":[{"IP":"*"}]}]`,
		`[{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":9,"Last":1}}]}]`, `[{"SrcIPs":["*"],"Bogus":1}]`} {
		if code := post(bad); code != http.StatusBadRequest {
			t.Errorf("policy %s: status %d, want 400", bad, code)
		}
	}
}

func TestPolicyFileIsReloadedAndBadFilesAreReported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.json")
	os.WriteFile(path, []byte(`[{"SrcIPs":["100.64.0.0/10"],"DstPorts":[{"IP":"*","Ports":{"First":22,"Last":22}}]}]`), 0o600)
	rules, err := loadPolicyFile(path)
	if err != nil || len(rules) != 1 {
		t.Fatalf("%v %v", rules, err)
	}
	os.WriteFile(path, []byte(`[{"SrcIPs":["100.64.0.1-100.64.0.0"],"DstPorts":[{"IP":"*","Ports":{"First":1,"Last":2}}]}]`), 0o600)
	if _, err := loadPolicyFile(path); err == nil || !strings.Contains(err.Error(), "rule 0") {
		t.Fatalf("a reversed range was accepted: %v", err)
	}
}

func TestAdminEndpointsRefuseNonLoopbackClients(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:5": true, "[::1]:5": true, "[::ffff:127.0.0.1]:5": true,
		"192.0.2.1:5": false, "[2001:db8::1]:5": false, "garbage": false} {
		if isLoopback(addr) != want {
			t.Errorf("isLoopback(%q) = %v", addr, !want)
		}
	}
}

func TestTenThousandSyntheticPeersFitInTheFirstMapMessage(t *testing.T) {
	ts := newTestServer(t, nil)
	if _, err := ts.tailnet.addSynthetic(10000); err != nil {
		t.Fatal(err)
	}
	a := ts.newNode()
	a.mustRegister("good", "a", false)
	ms := a.stream(true)
	m := ms.next()
	if len(m.Peers) != 10000 {
		t.Fatalf("%d peers", len(m.Peers))
	}
	names, addrs := map[string]bool{}, map[netip.Prefix]bool{}
	for _, p := range m.Peers {
		names[p.Name] = true
		addrs[p.Addresses[0]] = true
		if len(p.Endpoints) != 1 || !netip.MustParsePrefix("198.18.0.0/15").Contains(p.Endpoints[0].Addr()) {
			t.Fatalf("synthetic endpoint %v", p.Endpoints)
		}
	}
	if len(names) != 10000 || len(addrs) != 10000 {
		t.Fatalf("%d distinct names, %d distinct addresses", len(names), len(addrs))
	}
	resp, err := http.Post(ts.http.URL+"/test/synthetic/churn?count=100", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("churn: %v %v", err, resp)
	}
	resp.Body.Close()
	m = ms.nextWhere("PeersChangedPatch", func(m *MapResponse) bool { return len(m.PeersChangedPatch) > 0 })
	if len(m.PeersChangedPatch) != 100 || len(m.PeersChanged) != 0 || len(m.PeersChangedPatch[0].Endpoints) != 1 {
		t.Fatalf("churn delta: %d patches, %d changed", len(m.PeersChangedPatch), len(m.PeersChanged))
	}
	if n := ts.tailnet.removeSynthetic(); n != 10000 {
		t.Fatalf("removed %d", n)
	}
	m = ms.nextWhere("PeersRemoved", func(m *MapResponse) bool { return len(m.PeersRemoved) > 0 })
	if len(m.PeersRemoved) != 10000 {
		t.Fatalf("%d removed", len(m.PeersRemoved))
	}
}

func TestExternalPeerIsAddedOnlineWithItsKeysAndEndpoints(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.newNode()
	a.mustRegister("good", "a", false)
	ms := a.stream(false)
	ms.next()
	node, disco := NodePublic{publicKey(newPrivateKey())}, DiscoPublic{publicKey(newPrivateKey())}
	body, _ := json.Marshal(map[string]interface{}{"hostname": "wg", "nodeKey": node, "discoKey": disco, "endpoints": []string{"127.0.0.1:51820"}})
	resp, err := http.Post(ts.http.URL+"/test/nodes", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var sum nodeSummary
	json.NewDecoder(resp.Body).Decode(&sum)
	resp.Body.Close()
	if resp.StatusCode != 200 || sum.Name != "wg.tailnet.test." || !sum.Online {
		t.Fatalf("status %d, %+v", resp.StatusCode, sum)
	}
	m := ms.nextWhere("PeersChanged", func(m *MapResponse) bool { return len(m.PeersChanged) > 0 })
	p := m.PeersChanged[0]
	if p.Key != node || p.DiscoKey != disco || p.Online == nil || !*p.Online || p.Endpoints[0].String() != "127.0.0.1:51820" {
		t.Fatalf("external peer %+v", p)
	}
}
