package control

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validNodeKey = "nodekey:0101010101010101010101010101010101010101010101010101010101010101"

func TestConfigValidationNamesTheField(t *testing.T) {
	base := func(mod string) string {
		return `{"controlURL":"http://127.0.0.1:9911","authKey":"k","hostname":"web","stateDir":"/tmp/x","nodeKey":"` + validNodeKey + `"` + mod + `}`
	}
	if c, err := ParseConfig([]byte(base(`,"futureField":1`))); err != nil || c.OS != "linux" || c.AppName != "wirenet" || !strings.HasPrefix(c.DiscoKey, "discokey:000") {
		t.Fatalf("valid config: %+v %v", c, err)
	}
	bad := map[string]string{
		`{"controlURL":`: "not valid JSON",
		strings.Replace(base(""), "http://127.0.0.1:9911", "ftp://x", 1):       "controlURL",
		strings.Replace(base(""), "http://127.0.0.1:9911", "", 1):              "controlURL",
		strings.Replace(base(""), `"stateDir":"/tmp/x"`, `"stateDir":""`, 1):   "stateDir",
		strings.Replace(base(""), `"hostname":"web"`, `"hostname":""`, 1):      "hostname",
		strings.Replace(base(""), validNodeKey, "nodekey:12", 1):               "nodeKey",
		strings.Replace(base(""), validNodeKey, "mkey:"+validNodeKey[8:], 1):   "nodeKey",
		base(`,"discoKey":"discokey:zz"`):                                      "discoKey",
		base(`,"endpoints":["1.2.3.4"]`):                                       "endpoint",
		`{"controlURL":"http://x","pad":"` + strings.Repeat("a", 2<<20) + `"}`: "more than",
	}
	for in, want := range bad {
		if _, err := ParseConfig([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: err %v, want it to mention %q", in, err, want)
		}
	}
	if _, err := ParseUpdate([]byte(`{"endpoints":["[::1]:5"],"discoKey":"discokey:nothex"}`)); err == nil {
		t.Error("a bad disco key in an update was accepted")
	}
	if u, err := ParseUpdate([]byte(`{"endpoints":["[::1]:5","10.0.0.1:7"]}`)); err != nil || len(u.Endpoints) != 2 {
		t.Errorf("update: %+v %v", u, err)
	}
}

func TestMachineKeyIsCreated0600ReusedAndNeverSilentlyReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := LoadOrCreateMachineKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, machineKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("machine.key: %v %v", info, err)
	}
	again, _ := LoadOrCreateMachineKey(dir)
	if again != first {
		t.Fatal("a second load made a new key")
	}
	os.WriteFile(filepath.Join(dir, machineKeyFile), []byte("privkey:nothex\n"), 0o600)
	if _, err := LoadOrCreateMachineKey(dir); err == nil || !strings.Contains(err.Error(), "unreadable") {
		t.Fatalf("corrupt key: %v", err)
	}
}

func TestRegistrationMatchesControlURLAndNodeKey(t *testing.T) {
	dir := t.TempDir()
	SaveRegistration(dir, Registration{ControlURL: "http://a", NodeKey: validNodeKey})
	if _, ok := LoadRegistration(dir, "http://a", validNodeKey); !ok {
		t.Fatal("saved registration not found")
	}
	if _, ok := LoadRegistration(dir, "http://b", validNodeKey); ok {
		t.Fatal("a registration with another control server was used")
	}
	if info, _ := os.Stat(filepath.Join(dir, registrationFile)); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode())
	}
	RemoveRegistration(dir)
	if _, ok := LoadRegistration(dir, "http://a", validNodeKey); ok {
		t.Fatal("removed registration still found")
	}
}
