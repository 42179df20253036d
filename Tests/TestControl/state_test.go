package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serverFromState builds a test server the way main does with --state DIR.
func serverFromState(t *testing.T, dir string) (*testServer, *stateStore) {
	t.Helper()
	st, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	var store *stateStore
	ts := newTestServer(t, func(_ *tailnetConfig, s *controlServer) {
		s.noiseKey, s.legacyKey = st.NoiseKey, st.LegacyKey
	})
	if err := st.restore(ts.tailnet); err != nil {
		t.Fatal(err)
	}
	store = &stateStore{path: filepath.Join(dir, stateFileName), noiseKey: st.NoiseKey, legacyKey: st.LegacyKey, tailnet: ts.tailnet, logf: t.Logf}
	ts.tailnet.onDirty = store.requestSave
	return ts, store
}

func TestStateKeepsKeysNodesAndSpentKeysAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	ts1, store1 := serverFromState(t, dir)
	a := ts1.newNode()
	a.mustRegister("once", "keep", false)
	a.update("192.0.2.10:41641")
	ts1.newNode().mustRegister("good", "other", false)
	time.Sleep(3 * saveDelay) // the coalesced save runs by itself
	if _, err := os.Stat(filepath.Join(dir, stateFileName)); err != nil {
		t.Fatalf("no state file after a change: %v", err)
	}
	if err := store1.flush(); err != nil {
		t.Fatal(err)
	}
	before := ts1.tailnet.summaries(false)
	ts1.http.Close()

	ts2, _ := serverFromState(t, dir)
	if ts2.srv.noiseKey != ts1.srv.noiseKey {
		t.Fatal("the Noise key changed across the restart")
	}
	after := ts2.tailnet.summaries(false)
	if len(after) != 2 || after[0].Addresses[0] != before[0].Addresses[0] || after[0].Name != "keep.tailnet.test." ||
		len(after[0].Endpoints) != 1 || after[0].Online {
		t.Fatalf("restored %+v, want %+v (offline)", after, before)
	}
	// The same machine and node key log in again without a key, on the new server.
	a.ts = ts2
	a.connect()
	a.mustRegister("", "keep", false)
	// A new node gets the next address, not a reused one, and the one-off key stays spent.
	if res := ts2.newNode().register("once", "new", false); res.Error != errAuthKeyUsed {
		t.Fatalf("a spent one-off key works again after a restart: %+v", res)
	}
	n := ts2.newNode()
	n.mustRegister("good", "new", false)
	if got := ts2.tailnet.summaries(false)[2].Addresses[0].String(); got != "100.64.0.3" {
		t.Fatalf("new node after restart got %s", got)
	}
}

func TestStateFileThatIsNotOursIsReportedNotOverwritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFileName)
	os.WriteFile(path, []byte("not json"), 0o600)
	if _, err := loadState(dir); err == nil || !strings.Contains(err.Error(), "not a testcontrol state file") {
		t.Fatalf("error %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not json" {
		t.Fatal("the file was changed")
	}
}

func TestFlagsAreCheckedWithClearMessages(t *testing.T) {
	o, err := parseOptions([]string{"--listen", "127.0.0.1:0", "--authkey", "a", "--authkey", "b", "--authkey-oneoff", "c", "--authkey-expired", "d", "--domain", "lab.example."})
	if err != nil || len(o.authKeys) != 2 || o.oneOffKeys[0] != "c" || o.expiredKeys[0] != "d" || o.domain != "lab.example" {
		t.Fatalf("%+v %v", o, err)
	}
	for _, args := range [][]string{
		{"--listen", "nonsense"}, {"--listen", ":80"}, {"--listen", "127.0.0.1:99999"}, {"--authkey", ""},
		{"--synthetic-peers", "-1"}, {"--keepalive", "-1s"}, {"stray"}, {"--domain", "."},
	} {
		if _, err := parseOptions(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestDERPMapNamesTheListenAddressAsRegion900OnlyWithARelay(t *testing.T) {
	if m := buildDERPMap(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9911}, false); m != nil {
		t.Fatalf("a DERP map without a relay: %+v", m)
	}
	m := buildDERPMap(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9911}, true)
	r := m.Regions[900]
	if r == nil || r.RegionCode != "test" || len(r.Nodes) != 1 {
		t.Fatalf("%+v", m)
	}
	n := r.Nodes[0]
	if n.HostName != "127.0.0.1" || n.IPv4 != "127.0.0.1" || n.DERPPort != 9911 || n.STUNPort != -1 || !n.InsecureForTests || n.RegionID != 900 {
		t.Fatalf("%+v", n)
	}
	if _, err := parseOptions([]string{"--derp", "--listen", "0.0.0.0:9911"}); err == nil {
		t.Fatal("--derp with an unspecified listen address was accepted")
	}
}

func TestSIGHUPReloadsThePolicyAndSIGTERMSavesTheState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.json")
	os.WriteFile(path, []byte(`[]`), 0o600)
	tn := newTailnet(tailnetConfig{Domain: "x"})
	reload := func() error {
		rules, err := loadPolicyFile(path)
		if err == nil {
			tn.setPolicy(rules)
		}
		return err
	}
	saved := 0
	signals := make(chan os.Signal, 4)
	signals <- syscall.SIGHUP
	signals <- syscall.SIGHUP // after the file turned bad: the policy stays
	signals <- syscall.SIGTERM
	done := make(chan int)
	var logs []string
	go func() {
		done <- serveSignals(signals, func() error {
			err := reload()
			os.WriteFile(path, []byte(`not json`), 0o600)
			return err
		}, func() error { saved++; return nil }, func(f string, a ...interface{}) { logs = append(logs, fmt.Sprintf(f, a...)) })
	}()
	if code := <-done; code != 0 || saved != 1 {
		t.Fatalf("exit %d, saved %d times", code, saved)
	}
	if tn.policyVersion != 2 || len(tn.policy) != 0 {
		t.Fatalf("policy version %d, %d rules", tn.policyVersion, len(tn.policy))
	}
	if len(logs) < 2 || !strings.Contains(logs[0], "not a JSON list") {
		t.Fatalf("logs %q", logs)
	}
}
