package control

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"wirenet/Sources/ControlHelper/noise"
	"wirenet/Sources/ControlHelper/tailcfg"
)

// File names in the state directory (Docs/control-plane.md).
const (
	machineKeyFile   = "machine.key"
	registrationFile = "control-registration.json"
)

// maxStateFileSize bounds what the helper reads from its own state files.
const maxStateFileSize = 64 << 10

// LoadOrCreateMachineKey reads stateDir/machine.key ("privkey:<hex>"), or creates it (mode 0600)
// with a fresh key. A file that exists but does not parse is an error, never silently replaced.
func LoadOrCreateMachineKey(stateDir string) (noise.KeyPair, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return noise.KeyPair{}, fmt.Errorf("creating state directory %s: %v", stateDir, err)
	}
	path := filepath.Join(stateDir, machineKeyFile)
	data, err := readBounded(path)
	if err == nil {
		priv, err := tailcfg.ParseKey(strings.TrimSpace(string(data)), tailcfg.PrivatePrefix)
		if err != nil {
			return noise.KeyPair{}, fmt.Errorf("machine key %s is unreadable (%v); remove it to make a new one, which makes this a new machine to control", path, err)
		}
		return noise.NewKeyPair(priv)
	}
	if !os.IsNotExist(err) {
		return noise.KeyPair{}, fmt.Errorf("reading machine key %s: %v", path, err)
	}
	kp, err := noise.GenerateKeyPair(rand.Reader)
	if err != nil {
		return noise.KeyPair{}, err
	}
	if err := writeFileAtomic(path, []byte(tailcfg.FormatKey(kp.Private, tailcfg.PrivatePrefix)+"\n")); err != nil {
		return noise.KeyPair{}, fmt.Errorf("writing machine key %s: %v", path, err)
	}
	return kp, nil
}

// Registration records that this node key is registered with this control server.
type Registration struct {
	ControlURL string    `json:"controlURL"`
	NodeKey    string    `json:"nodeKey"`
	Time       time.Time `json:"time"`
	Ephemeral  bool      `json:"ephemeral"`
}

// LoadRegistration returns the saved registration if it matches controlURL and nodeKey.
func LoadRegistration(stateDir, controlURL, nodeKey string) (*Registration, bool) {
	data, err := readBounded(filepath.Join(stateDir, registrationFile))
	if err != nil {
		return nil, false
	}
	var r Registration
	if json.Unmarshal(data, &r) != nil || r.ControlURL != controlURL || r.NodeKey != nodeKey {
		return nil, false
	}
	return &r, true
}

// SaveRegistration writes stateDir/control-registration.json (mode 0600).
func SaveRegistration(stateDir string, r Registration) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(stateDir, registrationFile), append(data, '\n'))
}

// RemoveRegistration forgets the registration (after logout).
func RemoveRegistration(stateDir string) error {
	err := os.Remove(filepath.Join(stateDir, registrationFile))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxStateFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxStateFileSize)
	}
	return data, nil
}

// writeFileAtomic writes a 0600 file through a temporary name and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
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
	return os.Rename(name, path)
}
