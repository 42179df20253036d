package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestKeyEndpointPublishesTheNoiseKey(t *testing.T) {
	ts := newTestServer(t, nil)
	resp, err := http.Get(ts.http.URL + "/key?v=145")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]string
	json.NewDecoder(resp.Body).Decode(&raw)
	if !strings.HasPrefix(raw["publicKey"], "mkey:") || !strings.HasPrefix(raw["legacyPublicKey"], "mkey:") {
		t.Fatalf("keys lack the mkey: prefix: %v", raw)
	}
	if raw["publicKey"] != ts.srv.noiseKey.Public().String() {
		t.Fatal("publicKey is not the Noise key")
	}
}

func TestRegisterAdmitsReusableKeysAndRefusesWrongExpiredAndSpentKeys(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.newNode().mustRegister("good", "a", false)
	ts.newNode().mustRegister("good", "b", false) // reusable
	for key, want := range map[string]string{"wrong": errAuthKeyInvalid, "old": errAuthKeyExpired, "": errAuthKeyMissing} {
		res := ts.newNode().register(key, "c", false)
		if res.Error != want || res.MachineAuthorized {
			t.Errorf("key %q: got %+v, want error %q", key, res, want)
		}
	}
	ts.newNode().mustRegister("once", "d", false)
	if res := ts.newNode().register("once", "e", false); res.Error != errAuthKeyUsed {
		t.Fatalf("second use of a one-off key: %+v", res)
	}
	if got := len(ts.tailnet.summaries(true)); got != 3 {
		t.Fatalf("%d nodes registered, want 3", got)
	}
}

func TestRegisteredNodeRegistersAgainWithoutAKeyAndKeepsItsAddresses(t *testing.T) {
	ts := newTestServer(t, nil)
	n := ts.newNode()
	n.mustRegister("once", "web", false)
	before := ts.tailnet.summaries(false)[0]
	n.connect() // a new connection, as after a client restart
	n.mustRegister("", "web", false)
	n.mustRegister("once", "web", false) // a one-off key again: the node is known, the key is not checked
	after := ts.tailnet.summaries(false)
	if len(after) != 1 || after[0].Addresses[0] != before.Addresses[0] || after[0].Addresses[1] != before.Addresses[1] {
		t.Fatalf("re-registration changed the tailnet: %+v → %+v", before, after)
	}
	// Another machine with the same node key is refused.
	imposter := ts.newNode()
	imposter.node = n.node
	if res := imposter.register("good", "web", false); res.Error == "" {
		t.Fatal("a second machine took over a registered node key")
	}
}

func TestAddressesComeFromTheTailscaleRangesAndNamesAreUnique(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.newNode().mustRegister("good", "Web Server", false)
	ts.newNode().mustRegister("good", "web-server", false)
	ts.newNode().mustRegister("good", "web-server.example.com", false)
	nodes := ts.tailnet.summaries(false)
	wantNames := []string{"web-server.tailnet.test.", "web-server-1.tailnet.test.", "web-server-2.tailnet.test."}
	seen := map[netip.Addr]bool{}
	for i, n := range nodes {
		if n.Name != wantNames[i] {
			t.Errorf("node %d named %q, want %q", i, n.Name, wantNames[i])
		}
		if !cgnatRange.Contains(n.Addresses[0]) || !ulaRange.Contains(n.Addresses[1]) {
			t.Errorf("node %d addresses %v outside 100.64.0.0/10 and fd7a:115c:a1e0::/48", i, n.Addresses)
		}
		for _, a := range n.Addresses {
			if seen[a] {
				t.Errorf("address %v given twice", a)
			}
			seen[a] = true
		}
	}
	if nodes[0].Addresses[0] != netip.MustParseAddr("100.64.0.1") || nodes[0].Addresses[1] != netip.MustParseAddr("fd7a:115c:a1e0::1") {
		t.Errorf("first node got %v", nodes[0].Addresses)
	}
}

func TestLogoutRemovesAnEphemeralNodeAtOnceAndDeauthorisesOthers(t *testing.T) {
	ts := newTestServer(t, nil)
	watcher := ts.newNode()
	watcher.mustRegister("good", "watcher", false)
	ms := watcher.stream(false)
	ms.next()

	eph := ts.newNode()
	eph.mustRegister("good", "eph", true)
	ms.nextWhere("the ephemeral node", func(m *MapResponse) bool { return len(m.PeersChanged) == 1 })
	eph.logout()
	m := ms.nextWhere("PeersRemoved", func(m *MapResponse) bool { return len(m.PeersRemoved) > 0 })
	if len(m.PeersRemoved) != 1 {
		t.Fatalf("PeersRemoved %v", m.PeersRemoved)
	}
	if len(ts.tailnet.summaries(false)) != 1 {
		t.Fatal("the ephemeral node is still known")
	}

	perm := ts.newNode()
	perm.mustRegister("good", "perm", false)
	ms.nextWhere("the permanent node", func(m *MapResponse) bool { return len(m.PeersChanged) == 1 })
	addr := ts.tailnet.summaries(false)[1].Addresses[0]
	perm.logout()
	ms.nextWhere("PeersRemoved", func(m *MapResponse) bool { return len(m.PeersRemoved) == 1 })
	if res := perm.register("", "perm", false); res.Error != errAuthKeyMissing {
		t.Fatalf("a logged-out node registered without a key: %+v", res)
	}
	perm.mustRegister("good", "perm", false)
	if got := ts.tailnet.summaries(false)[1]; got.Addresses[0] != addr || got.LoggedOut {
		t.Fatalf("logging in again gave %+v, want address %v", got, addr)
	}
}

func TestNodeKeyRotationKeepsTheNode(t *testing.T) {
	ts := newTestServer(t, nil)
	n := ts.newNode()
	n.mustRegister("good", "rot", false)
	before := ts.tailnet.summaries(false)[0]
	old := n.node
	n.node = NodePublic{publicKey(newPrivateKey())}
	req := RegisterRequest{Version: testCapVersion, NodeKey: n.node, OldNodeKey: old}
	resp := n.post(context.Background(), "/machine/register", req)
	var res RegisterResponse
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if res.Error != "" || !res.MachineAuthorized {
		t.Fatalf("rotation refused: %+v", res)
	}
	after := ts.tailnet.summaries(false)
	if len(after) != 1 || after[0].ID != before.ID || after[0].NodeKey != n.node || after[0].Addresses[0] != before.Addresses[0] {
		t.Fatalf("after rotation: %+v", after)
	}
}

func TestMalformedRequestsGetErrorsNotCrashes(t *testing.T) {
	ts := newTestServer(t, nil)
	n := ts.newNode()
	for _, body := range []string{"", "{", `{"NodeKey": "nodekey:zz"}`, `{"NodeKey": 5}`, `[]`, strings.Repeat(" ", maxRequestBody+10) + "{}"} {
		for _, path := range []string{"/machine/register", "/machine/map"} {
			req, _ := http.NewRequest("POST", "http://"+ts.addr()+path, strings.NewReader(body))
			resp, err := n.cc.RoundTrip(req)
			if err != nil {
				t.Fatalf("%s %q: %v", path, clip(body, 20), err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s %q: status %d, want 400", path, clip(body, 20), resp.StatusCode)
			}
		}
	}
	// A map request for a node that never registered.
	resp := n.post(context.Background(), "/machine/map", MapRequest{Version: testCapVersion, NodeKey: n.node, Stream: true})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("map for an unknown node: status %d", resp.StatusCode)
	}
	// Broken upgrades over plain HTTP.
	for _, hdr := range []map[string]string{
		{},
		{"Upgrade": "websocket"},
		{"Upgrade": upgradeProtocol},
		{"Upgrade": upgradeProtocol, handshakeHeaderName: "!!!"},
		{"Upgrade": upgradeProtocol, handshakeHeaderName: "AAAA"},
	} {
		req, _ := http.NewRequest("POST", ts.http.URL+"/ts2021", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%v: %v", hdr, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: status %d, want 400", hdr, resp.StatusCode)
		}
	}
	// The server still works.
	ts.newNode().mustRegister("good", "after", false)
}

func TestAHostinfoThatIsNotAnObjectNeverReachesPeers(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.newNode()
	a.mustRegister("good", "a", false)
	ms := a.stream(false)
	ms.next()
	b := ts.newNode()
	for _, hi := range []string{`"a string"`, `5`, `[1]`, `null`} {
		resp := b.post(context.Background(), "/machine/register", map[string]interface{}{
			"Version": testCapVersion, "NodeKey": b.node, "Auth": map[string]string{"AuthKey": "good"}, "Hostinfo": json.RawMessage(hi)})
		resp.Body.Close()
		resp = b.post(context.Background(), "/machine/map", map[string]interface{}{
			"Version": testCapVersion, "NodeKey": b.node, "OmitPeers": true, "Hostinfo": json.RawMessage(hi)})
		resp.Body.Close()
	}
	m := ms.nextWhere("b", func(m *MapResponse) bool { return len(m.PeersChanged) > 0 })
	var obj map[string]interface{}
	if err := json.Unmarshal(m.PeersChanged[0].Hostinfo, &obj); err != nil {
		t.Fatalf("peer Hostinfo %s is not an object: %v", m.PeersChanged[0].Hostinfo, err)
	}
}
