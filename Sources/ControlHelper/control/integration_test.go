package control

// Integration tests against the test control server (Tests/TestControl, built and started with
// scripts/testcontrol.sh): an independent implementation of the server side of the protocol.

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wirenet/Sources/ControlHelper/netmap"
)

// testControl is one running test control server.
type testControl struct {
	url  string
	cmd  *exec.Cmd
	args []string
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "scripts", "testcontrol.sh")); err == nil {
			return d
		}
	}
	t.Skip("scripts/testcontrol.sh not found above " + dir)
	return ""
}

// startTestControl runs scripts/testcontrol.sh with args (plus --listen when not given) and waits
// for its "ready URL" line.
func startTestControl(t *testing.T, args ...string) *testControl {
	t.Helper()
	root := repoRoot(t)
	hasListen := false
	for _, a := range args {
		hasListen = hasListen || a == "--listen"
	}
	if !hasListen {
		args = append([]string{"--listen", "127.0.0.1:0"}, args...)
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "testcontrol.sh"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "testcontrol.log")
	logFile, _ := os.Create(logPath)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting testcontrol: %v", err)
	}
	tc := &testControl{cmd: cmd, args: args}
	t.Cleanup(func() {
		tc.kill()
		logFile.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("testcontrol log:\n%s", data)
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- strings.TrimPrefix(sc.Text(), "ready ")
			}
		}
	}()
	select {
	case tc.url = <-ready:
	case <-time.After(240 * time.Second): // the first run builds the server
		t.Fatal("testcontrol did not print ready")
	}
	return tc
}

func (tc *testControl) kill() {
	if tc.cmd.Process != nil {
		syscall.Kill(-tc.cmd.Process.Pid, syscall.SIGKILL)
		tc.cmd.Wait()
	}
}

// node is one helper client with the events it received, folded into a current view.
type node struct {
	t      *testing.T
	client *Client
	cfg    *Config

	mu     sync.Mutex
	states []StateEvent
	self   *netmap.Self
	peers  map[int64]netmap.Peer
	events []netmap.Event
}

func randomKey(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func newNode(t *testing.T, controlURL, authKey, hostname, stateDir, nodeKey string, ephemeral bool) *node {
	t.Helper()
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	if nodeKey == "" {
		nodeKey = randomKey("nodekey:")
	}
	cfgJSON, _ := json.Marshal(map[string]interface{}{
		"controlURL": controlURL, "authKey": authKey, "hostname": hostname, "stateDir": stateDir,
		"ephemeral": ephemeral, "nodeKey": nodeKey, "discoKey": randomKey("discokey:"),
		"endpoints": []string{"127.0.0.1:41641"}, "os": "linux", "appName": "controlhelper-test",
	})
	cfg, err := ParseConfig(cfgJSON)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cfg: cfg, peers: map[int64]netmap.Peer{}}
	n.client, err = New(cfg, n.sink)
	if err != nil {
		t.Fatal(err)
	}
	n.client.backoffMin = 100 * time.Millisecond
	n.client.backoffMax = time.Second
	n.client.Start()
	t.Cleanup(n.client.Stop)
	return n
}

func (n *node) sink(kind int32, data []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch kind {
	case EventState:
		var s StateEvent
		if err := json.Unmarshal(data, &s); err != nil {
			n.t.Errorf("state event %s: %v", data, err)
		}
		n.states = append(n.states, s)
	case EventNetmap:
		var ev netmap.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			n.t.Errorf("netmap event %.200s: %v", data, err)
			return
		}
		n.events = append(n.events, ev)
		if ev.Full {
			n.peers = map[int64]netmap.Peer{}
		}
		if ev.Self != nil {
			n.self = ev.Self
		}
		for _, p := range ev.Peers {
			n.peers[p.ID] = p
		}
		for _, id := range ev.Removed {
			delete(n.peers, id)
		}
	}
}

// waitFor polls cond (under the node's lock) until it holds or the timeout passes.
func (n *node) waitFor(what string, timeout time.Duration, cond func() bool) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n.mu.Lock()
		ok := cond()
		n.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			n.mu.Lock()
			defer n.mu.Unlock()
			states := n.states
			if len(states) > 6 {
				states = states[len(states)-6:]
			}
			n.t.Fatalf("%s: timed out waiting for %s; last states %+v; %d netmap events", n.cfg.Hostname, what, states, len(n.events))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) hasState(state string) bool {
	for _, s := range n.states {
		if s.State == state {
			return true
		}
	}
	return false
}

func (n *node) peerNamed(host string) (netmap.Peer, bool) {
	for _, p := range n.peers {
		if p.Hostname == host {
			return p, true
		}
	}
	return netmap.Peer{}, false
}

func (n *node) running() {
	n.waitFor("state running", 20*time.Second, func() bool { return n.hasState(StateRunning) })
}

func (n *node) selfAddresses() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.self == nil {
		return nil
	}
	return n.self.Addresses
}

func TestNodesSeeEachOtherDeltasAndEphemeralLogout(t *testing.T) {
	tc := startTestControl(t, "--authkey", "tskey-good")
	a := newNode(t, tc.url, "tskey-good", "alpha", "", "", false)
	b := newNode(t, tc.url, "tskey-good", "beta", "", "", false)
	a.running()
	b.running()
	a.waitFor("beta in alpha's netmap", 10*time.Second, func() bool { _, ok := a.peerNamed("beta"); return ok })
	b.waitFor("alpha in beta's netmap", 10*time.Second, func() bool { _, ok := b.peerNamed("alpha"); return ok })

	a.mu.Lock()
	beta, _ := a.peerNamed("beta")
	fullBefore := 0
	for _, ev := range a.events {
		if ev.Full {
			fullBefore++
		}
	}
	a.mu.Unlock()
	if len(beta.Addresses) == 0 || len(beta.AllowedIPs) == 0 || beta.NodeKey != b.cfg.NodeKey || !strings.HasPrefix(beta.Name, "beta.") {
		t.Fatalf("beta as alpha sees it: %+v", beta)
	}
	if got := b.selfAddresses(); len(got) == 0 || fmt.Sprint(got) != fmt.Sprint(beta.Addresses) {
		t.Fatalf("beta's own addresses %v differ from what alpha sees %v", got, beta.Addresses)
	}
	// The endpoint update (OmitPeers) reaches the other node.
	b.client.Update(&Update{Endpoints: []string{"127.0.0.1:40001", "[::1]:40001"}, DiscoKey: b.cfg.DiscoKey})
	a.waitFor("beta's new endpoints", 10*time.Second, func() bool {
		p, _ := a.peerNamed("beta")
		return strings.Contains(strings.Join(p.Endpoints, ","), "127.0.0.1:40001")
	})

	// A third, ephemeral node joins: alpha gets a delta, not a new full map.
	c := newNode(t, tc.url, "tskey-good", "gamma", "", "", true)
	c.running()
	a.waitFor("gamma in alpha's netmap", 10*time.Second, func() bool { _, ok := a.peerNamed("gamma"); return ok })
	a.mu.Lock()
	gamma, _ := a.peerNamed("gamma")
	var joinDelta *netmap.Event
	fullAfter := 0
	for i := range a.events {
		if a.events[i].Full {
			fullAfter++
		}
		for _, p := range a.events[i].Peers {
			if p.ID == gamma.ID && !a.events[i].Full && joinDelta == nil {
				joinDelta = &a.events[i]
			}
		}
	}
	a.mu.Unlock()
	if joinDelta == nil || fullAfter != fullBefore {
		t.Fatalf("gamma did not arrive as a delta (full events %d → %d)", fullBefore, fullAfter)
	}

	// The ephemeral node logs out: it is gone from alpha's netmap at once, by a delta.
	if err := c.client.Logout(10 * time.Second); err != nil {
		t.Fatalf("logout: %v", err)
	}
	c.waitFor("state loggedOut", 5*time.Second, func() bool { return c.hasState(StateLoggedOut) })
	c.mu.Lock()
	if c.hasState(StateReconnecting) || c.states[len(c.states)-1].State != StateLoggedOut {
		t.Errorf("states around the logout: %+v", c.states)
	}
	c.mu.Unlock()
	a.waitFor("gamma removed from alpha's netmap", 10*time.Second, func() bool {
		_, ok := a.peerNamed("gamma")
		return !ok
	})
	a.mu.Lock()
	removedByDelta := false
	for _, ev := range a.events {
		for _, id := range ev.Removed {
			removedByDelta = removedByDelta || id == gamma.ID
		}
	}
	a.mu.Unlock()
	if !removedByDelta {
		t.Fatal("gamma's removal did not come as a delta with removed ids")
	}
	if _, err := os.Stat(filepath.Join(c.cfg.StateDir, registrationFile)); !os.IsNotExist(err) {
		t.Fatalf("registration kept after logout: %v", err)
	}
}

func TestRefusedKeysAreTerminalWithTheServersMessage(t *testing.T) {
	tc := startTestControl(t, "--authkey", "tskey-good", "--authkey-expired", "tskey-old", "--authkey-oneoff", "tskey-once")
	cases := []struct{ key, host, wantWord string }{
		{"tskey-wrong", "wrong", "refused"},
		{"tskey-old", "old", "expired"},
		{"", "nokey", "auth key"},
	}
	for _, tcase := range cases {
		n := newNode(t, tc.url, tcase.key, tcase.host, "", "", false)
		n.waitFor("state refused", 15*time.Second, func() bool { return n.hasState(StateRefused) })
		n.mu.Lock()
		last := n.states[len(n.states)-1]
		n.mu.Unlock()
		if last.State != StateRefused || !strings.Contains(strings.ToLower(last.Message), tcase.wantWord) {
			t.Errorf("key %q: last state %+v", tcase.key, last)
		}
		time.Sleep(300 * time.Millisecond) // a terminal state is not retried
		n.mu.Lock()
		if n.states[len(n.states)-1].State != StateRefused || n.hasState(StateReconnecting) {
			t.Errorf("key %q: retried after refused: %+v", tcase.key, n.states)
		}
		n.mu.Unlock()
	}
	// A one-off key admits one node only.
	first := newNode(t, tc.url, "tskey-once", "once1", "", "", false)
	first.running()
	second := newNode(t, tc.url, "tskey-once", "once2", "", "", false)
	second.waitFor("second use of a one-off key refused", 15*time.Second, func() bool { return second.hasState(StateRefused) })
}

func TestRestartWithoutAuthKeyKeepsTheAddress(t *testing.T) {
	tc := startTestControl(t, "--authkey", "tskey-good")
	stateDir := t.TempDir()
	nodeKey := randomKey("nodekey:")
	first := newNode(t, tc.url, "tskey-good", "durable", stateDir, nodeKey, false)
	first.running()
	before := first.selfAddresses()
	machineKey := first.client.MachinePublicKey()
	first.client.Stop()
	if info, err := os.Stat(filepath.Join(stateDir, machineKeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("machine key file: %v %v", info, err)
	}

	second := newNode(t, tc.url, "", "durable", stateDir, nodeKey, false)
	second.running()
	if second.client.MachinePublicKey() != machineKey {
		t.Fatal("the machine key was not reused")
	}
	if after := second.selfAddresses(); len(before) == 0 || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("addresses %v after restart, %v before", after, before)
	}
}

func TestControlRestartReconnectsAndKeepsRunning(t *testing.T) {
	dir := t.TempDir()
	tc := startTestControl(t, "--authkey", "tskey-good", "--state", dir)
	a := newNode(t, tc.url, "tskey-good", "survivor", "", "", false)
	a.running()
	addr := a.selfAddresses()
	tc.kill()
	a.waitFor("state reconnecting", 10*time.Second, func() bool { return a.hasState(StateReconnecting) })
	a.mu.Lock()
	runningBefore := 0
	for _, s := range a.states {
		if s.State == StateRunning {
			runningBefore++
		}
	}
	a.mu.Unlock()
	listen := strings.TrimPrefix(tc.url, "http://")
	startTestControl(t, "--listen", listen, "--authkey", "tskey-good", "--state", dir)
	a.waitFor("running again", 20*time.Second, func() bool {
		n := 0
		for _, s := range a.states {
			if s.State == StateRunning {
				n++
			}
		}
		return n > runningBefore
	})
	if after := a.selfAddresses(); fmt.Sprint(after) != fmt.Sprint(addr) {
		t.Fatalf("address changed across a control restart: %v → %v", addr, after)
	}
}

func TestTenThousandPeerNetmapThenDeltas(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	tc := startTestControl(t, "--authkey", "tskey-good", "--synthetic-peers", "10000")
	started := time.Now()
	a := newNode(t, tc.url, "tskey-good", "big", "", "", false)
	a.waitFor("10,000 peers", 60*time.Second, func() bool { return len(a.peers) >= 10000 })
	full := time.Since(started)
	a.mu.Lock()
	events := len(a.events)
	a.mu.Unlock()
	joined := time.Now()
	newNode(t, tc.url, "tskey-good", "late", "", "", false)
	a.waitFor("the late node", 20*time.Second, func() bool { _, ok := a.peerNamed("late"); return ok })
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ev := range a.events[events:] {
		if ev.Full {
			t.Fatal("a join in a 10,000-peer tailnet came as a full netmap")
		}
	}
	t.Logf("10,000-peer netmap: login to full map %v; a join delivered as a delta after %v", full.Round(time.Millisecond), time.Since(joined).Round(time.Millisecond))
}

func TestSavedRegistrationControlForgotFallsBackToTheAuthKey(t *testing.T) {
	tc := startTestControl(t, "--authkey", "tskey-good", "--ephemeral-grace", "200ms")
	stateDir, nodeKey := t.TempDir(), randomKey("nodekey:")
	first := newNode(t, tc.url, "tskey-good", "fleeting", stateDir, nodeKey, true)
	first.running()
	first.client.Stop() // no logout: control drops the ephemeral node after its grace period
	watcher := newNode(t, tc.url, "tskey-good", "watcher", "", "", false)
	watcher.running()
	watcher.waitFor("fleeting gone", 10*time.Second, func() bool { _, ok := watcher.peerNamed("fleeting"); return !ok })

	// The registration file is still there, but control no longer knows the node: without an auth
	// key that is a refusal; with one, the node registers again.
	alone := newNode(t, tc.url, "", "fleeting", stateDir, nodeKey, true)
	alone.waitFor("refused", 15*time.Second, func() bool { return alone.hasState(StateRefused) })
	alone.client.Stop()
	again := newNode(t, tc.url, "tskey-good", "fleeting", stateDir, nodeKey, true)
	again.running()
	watcher.waitFor("fleeting back", 10*time.Second, func() bool { _, ok := watcher.peerNamed("fleeting"); return ok })
}

func TestStopLeavesNoGoroutinesBehind(t *testing.T) {
	tc := startTestControl(t, "--authkey", "tskey-good")
	warm := newNode(t, tc.url, "tskey-good", "warm", "", "", false)
	warm.running()
	warm.client.Stop()
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		n := newNode(t, tc.url, "tskey-good", fmt.Sprintf("cycle%d", i), "", "", true)
		n.running()
		n.client.Update(&Update{Endpoints: []string{"127.0.0.1:1"}})
		n.client.Stop()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > baseline {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after 5 start/stop cycles, %d before:\n%s", got, baseline, buf[:runtime.Stack(buf, true)])
	}
}

func TestPolicyChangeArrivesAsANormalisedFilterDelta(t *testing.T) {
	tc := startTestControl(t, "--authkey", "tskey-good")
	a := newNode(t, tc.url, "tskey-good", "guarded", "", "", false)
	a.running()
	a.mu.Lock()
	initial := a.events[0].PacketFilter
	count := len(a.events)
	a.mu.Unlock()
	if initial == nil || len(*initial) == 0 || (*initial)[0].SrcPrefixes[0] != "0.0.0.0/0" {
		t.Fatalf("default allow-all policy: %+v", initial)
	}
	policy := `[{"SrcIPs": ["100.64.0.2", "100.64.0.8-100.64.0.11"], "DstPorts": [{"IP": "*", "Ports": {"First": 80, "Last": 80}}], "IPProto": [6]}]`
	resp, err := http.Post(tc.url+"/test/policy", "application/json", strings.NewReader(policy))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /test/policy: %v %v", resp, err)
	}
	resp.Body.Close()
	a.waitFor("the new filter", 10*time.Second, func() bool {
		for _, ev := range a.events[count:] {
			if ev.PacketFilter != nil {
				return true
			}
		}
		return false
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	var got []netmap.FilterRule
	for _, ev := range a.events[count:] {
		if ev.PacketFilter != nil {
			if ev.Full {
				t.Fatal("a policy change came as a full netmap")
			}
			got = *ev.PacketFilter
		}
	}
	want := []netmap.FilterRule{{
		SrcPrefixes: []string{"100.64.0.2/32", "100.64.0.8/30"},
		DstPorts:    []netmap.DstPorts{{Prefix: "0.0.0.0/0", First: 80, Last: 80}, {Prefix: "::/0", First: 80, Last: 80}},
		Protocols:   []int{6},
	}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("filter %+v, want %+v", got, want)
	}
}
