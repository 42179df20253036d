package main

// --state DIR: the server's keys, nodes and spent one-off keys in DIR/testcontrol.json, written
// atomically (temporary file, fsync, rename) shortly after each change and at shutdown.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

const stateFileName = "testcontrol.json"

type stateFile struct {
	Version  int
	NoiseKey MachinePrivate
	// LegacyKey is the pre-Noise control key /key still announces; nothing uses it.
	LegacyKey MachinePrivate
	NextID    int64
	NextAddr  uint32
	UsedKeys  []string
	Nodes     []*nodeRecord
}

// stateStore saves the tailnet to one file; save requests within saveDelay coalesce.
type stateStore struct {
	path      string
	noiseKey  MachinePrivate
	legacyKey MachinePrivate
	tailnet   *Tailnet
	logf      func(string, ...interface{})

	mu      sync.Mutex
	pending bool
	flushMu sync.Mutex
}

const saveDelay = 100 * time.Millisecond

// loadState reads DIR's state file; a missing file yields fresh keys and no nodes.
func loadState(dir string) (*stateFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %v", err)
	}
	path := filepath.Join(dir, stateFileName)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &stateFile{Version: 1, NoiseKey: MachinePrivate{newPrivateKey()}, LegacyKey: MachinePrivate{newPrivateKey()}, NextID: 1, NextAddr: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state: %v", err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s is not a testcontrol state file: %v", path, err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("%s has state version %d, this server reads version 1", path, st.Version)
	}
	if st.NoiseKey.isZero() || st.NextID < 1 || st.NextAddr < 1 {
		return nil, fmt.Errorf("%s lacks its keys or counters", path)
	}
	return &st, nil
}

// restore puts the saved nodes into t; all start offline.
func (st *stateFile) restore(t *Tailnet) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID, t.nextAddr = st.NextID, st.NextAddr
	for _, k := range st.UsedKeys {
		t.usedKeys[k] = true
	}
	for _, n := range st.Nodes {
		if n == nil || n.ID <= 0 || n.ID >= st.NextID || t.nodes[n.ID] != nil || n.Key.isZero() || t.byKey[n.Key] != nil {
			return fmt.Errorf("state file holds an inconsistent node record (id %d)", n.ID)
		}
		if !cgnatRange.Contains(n.Addr4) || !ulaRange.Contains(n.Addr6) {
			return fmt.Errorf("state file: node %d has addresses outside the pools", n.ID)
		}
		if _, taken := t.names[n.Hostname]; taken || n.Hostname == "" {
			return fmt.Errorf("state file: node %d has a missing or duplicate host name %q", n.ID, n.Hostname)
		}
		t.nodes[n.ID] = n
		t.byKey[n.Key] = n
		t.names[n.Hostname] = n.ID
		t.touchLocked(n, true)
		if n.Ephemeral {
			t.scheduleEphemeralRemovalLocked(n)
		}
	}
	return nil
}

func (s *stateStore) requestSave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending {
		return
	}
	s.pending = true
	time.AfterFunc(saveDelay, func() {
		if err := s.flush(); err != nil {
			s.logf("saving state: %v", err)
		}
	})
}

// flush writes the current state now.
func (s *stateStore) flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	s.pending = false
	s.mu.Unlock()

	t := s.tailnet
	t.mu.Lock()
	st := stateFile{Version: 1, NoiseKey: s.noiseKey, LegacyKey: s.legacyKey, NextID: t.nextID, NextAddr: t.nextAddr}
	for k := range t.usedKeys {
		st.UsedKeys = append(st.UsedKeys, k)
	}
	sort.Strings(st.UsedKeys)
	for _, n := range t.nodes {
		st.Nodes = append(st.Nodes, n)
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].ID < st.Nodes[j].ID })
	data, err := json.MarshalIndent(&st, "", "  ") // under t.mu: the records are live
	t.mu.Unlock()
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, data)
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
