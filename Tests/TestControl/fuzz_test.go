package main

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzClientRequests feeds arbitrary register and map request bodies to the tailnet, as a
// hostile client inside an authenticated Noise session could send them: nothing may panic, and
// every peer record must still marshal into a netmap.
func FuzzClientRequests(f *testing.F) {
	f.Add([]byte(`{"Version":145,"NodeKey":"nodekey:0000000000000000000000000000000000000000000000000000000000000001","Auth":{"AuthKey":"good"},"Hostinfo":{"Hostname":"x"}}`),
		[]byte(`{"Version":145,"NodeKey":"nodekey:0000000000000000000000000000000000000000000000000000000000000001","Endpoints":["1.2.3.4:5","[fe80::1%eth0]:6"],"Hostinfo":{"Hostname":"y","NetInfo":{"PreferredDERP":900}}}`))
	f.Add([]byte(`{"NodeKey":"nodekey:0000000000000000000000000000000000000000000000000000000000000002","Expiry":"1970-01-01T00:02:03Z"}`), []byte(`{"Hostinfo":"x"}`))
	f.Add([]byte(`{"OldNodeKey":"nodekey:0000000000000000000000000000000000000000000000000000000000000001","NodeKey":"nodekey:0000000000000000000000000000000000000000000000000000000000000003"}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, register, mapBody []byte) {
		tn := newTailnet(tailnetConfig{Domain: "fuzz.test", EphemeralGrace: time.Hour})
		tn.addAuthKey("good", authKeyReusable)
		machine := MachinePublic{rawKey{1}}
		observer := &mapView{self: -1}
		for i := 0; i < 2; i++ {
			var rr RegisterRequest
			if json.Unmarshal(register, &rr) == nil {
				tn.register(machine, &rr, time.Now())
			}
			var mr MapRequest
			if json.Unmarshal(mapBody, &mr) == nil {
				tn.mu.Lock()
				if n, err := tn.nodeForMachineLocked(mr.NodeKey, machine); err == nil {
					tn.applyMapRequestLocked(n, &mr)
					view := &mapView{self: n.ID}
					if m, _, _ := tn.nextMapLocked(view); m != nil {
						if _, err := json.Marshal(m); err != nil {
							t.Fatalf("netmap does not marshal: %v", err)
						}
					}
				}
				for _, p := range tn.visiblePeersLocked(observer.self) {
					if _, err := json.Marshal(tn.wireNodeLocked(p)); err != nil {
						t.Fatalf("peer does not marshal: %v", err)
					}
				}
				tn.mu.Unlock()
			}
		}
	})
}
