package netmap

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"wirenet/Sources/ControlHelper/tailcfg"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func decode(t *testing.T, js string) *tailcfg.MapResponse {
	t.Helper()
	r, err := tailcfg.DecodeMapResponse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func apply(t *testing.T, tab *Table, js string) *Event {
	t.Helper()
	ev, _ := tab.Apply(decode(t, js), t0)
	return ev
}

func ids(peers []Peer) []int64 {
	out := []int64{}
	for _, p := range peers {
		out = append(out, p.ID)
	}
	return out
}

const first = `{"Node": {"ID": 1, "Name": "web.tailnet.test.", "Key": "nodekey:01", "Addresses": ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"], "MachineAuthorized": true},
 "Domain": "tailnet.test",
 "Peers": [{"ID": 2, "StableID": "n2", "Name": "db.tailnet.test.", "Key": "nodekey:02", "DiscoKey": "discokey:02",
            "Addresses": ["100.64.0.2/32"], "Endpoints": ["192.0.2.2:41641"], "DERP": "127.3.3.40:900",
            "Hostinfo": {"Hostname": "db"}, "Online": true},
           {"ID": 3, "Name": "cache.tailnet.test.", "Key": "nodekey:03", "Addresses": ["100.64.0.3"], "AllowedIPs": ["100.64.0.3/32", "10.0.0.0/8"],
            "KeyExpiry": "2027-01-01T00:00:00Z"}],
 "PacketFilter": [{"SrcIPs": ["*"], "DstPorts": [{"IP": "*", "Ports": {"First": 0, "Last": 65535}}]}],
 "DERPMap": {"Regions": {"900": {"RegionID": 900}}}}`

func TestFirstResponseIsFullWithNormalisedRecords(t *testing.T) {
	tab := NewTable()
	ev := apply(t, tab, first)
	if !ev.Full || ev.Self == nil || ev.Self.ID != 1 || *ev.Domain != "tailnet.test" || !reflect.DeepEqual(ids(ev.Peers), []int64{2, 3}) {
		t.Fatalf("event %+v", ev)
	}
	db, cache := ev.Peers[0], ev.Peers[1]
	if db.HomeDERP != 900 || db.Hostname != "db" || *db.Online != true || !reflect.DeepEqual(db.AllowedIPs, []string{"100.64.0.2/32"}) || db.KeyExpiry != nil {
		t.Fatalf("db %+v", db)
	}
	if cache.Hostname != "cache" || !reflect.DeepEqual(cache.Addresses, []string{"100.64.0.3/32"}) ||
		!reflect.DeepEqual(cache.AllowedIPs, []string{"100.64.0.3/32", "10.0.0.0/8"}) || cache.Online != nil || cache.KeyExpiry == nil {
		t.Fatalf("cache %+v", cache)
	}
	if ev.PacketFilter == nil || len(*ev.PacketFilter) != 1 || string(ev.DERPMap) != `{"Regions": {"900": {"RegionID": 900}}}` {
		t.Fatalf("filter %+v derp %s", ev.PacketFilter, ev.DERPMap)
	}
	// The JSON the Swift side decodes: null for unknown online / lastSeen / keyExpiry.
	data, _ := json.Marshal(ev)
	var generic map[string]interface{}
	json.Unmarshal(data, &generic)
	p := generic["peers"].([]interface{})[1].(map[string]interface{})
	if p["online"] != nil || p["lastSeen"] != nil {
		t.Fatalf("peer JSON %s", data)
	}
}

func TestDeltasAddChangeRemoveAndPatch(t *testing.T) {
	tab := NewTable()
	apply(t, tab, first)

	ev := apply(t, tab, `{"PeersChanged": [{"ID": 4, "Name": "new.tailnet.test.", "Key": "nodekey:04", "Addresses": ["100.64.0.4/32"]}], "PeersRemoved": [3, 99]}`)
	if ev.Full || !reflect.DeepEqual(ids(ev.Peers), []int64{4}) || !reflect.DeepEqual(ev.Removed, []int64{3}) || ev.PacketFilter != nil || ev.DERPMap != nil || ev.Self != nil || ev.Domain != nil {
		t.Fatalf("delta %+v", ev)
	}

	ev = apply(t, tab, `{"OnlineChange": {"2": false, "77": true}, "PeerSeenChange": {"4": true}}`)
	if !reflect.DeepEqual(ids(ev.Peers), []int64{2, 4}) || *ev.Peers[0].Online != false || !ev.Peers[1].LastSeen.Equal(t0) {
		t.Fatalf("online/seen %+v", ev)
	}

	ev = apply(t, tab, `{"PeersChangedPatch": [{"NodeID": 2, "DERPRegion": 901, "Endpoints": ["198.51.100.1:1"], "DiscoKey": "discokey:22", "LastSeen": "2026-11-30T11:00:00Z"}, {"NodeID": 55, "DERPRegion": 3}]}`)
	if len(ev.Peers) != 1 {
		t.Fatalf("patch %+v", ev)
	}
	p := ev.Peers[0]
	if p.HomeDERP != 901 || !reflect.DeepEqual(p.Endpoints, []string{"198.51.100.1:1"}) || p.DiscoKey != "discokey:22" || p.Name != "db.tailnet.test." || p.LastSeen == nil {
		t.Fatalf("patched %+v", p)
	}

	if ev := apply(t, tab, `{"PeerSeenChange": {"4": false}}`); ev.Peers[0].LastSeen != nil {
		t.Fatalf("unseen %+v", ev.Peers[0])
	}
	// A keep-alive-like response with nothing in it is no event.
	if ev := apply(t, tab, `{}`); ev != nil {
		t.Fatalf("empty response gave %+v", ev)
	}
	// An unchanged Domain is not repeated.
	if ev := apply(t, tab, `{"Domain": "tailnet.test"}`); ev != nil {
		t.Fatalf("unchanged domain gave %+v", ev)
	}
	if tab.PeerCount() != 2 {
		t.Fatalf("%d peers", tab.PeerCount())
	}
}

func TestPeersListMidSessionReplacesTheSetAsAFullEvent(t *testing.T) {
	tab := NewTable()
	apply(t, tab, first)
	ev := apply(t, tab, `{"Peers": [{"ID": 9, "Name": "only.tailnet.test.", "Addresses": ["100.64.0.9/32"]}], "PeersRemoved": [9]}`)
	if !ev.Full || !reflect.DeepEqual(ids(ev.Peers), []int64{9}) || len(ev.Removed) != 0 || ev.Self == nil {
		t.Fatalf("event %+v", ev)
	}
}

func TestRemovedThenChangedInOneResponseStaysPresent(t *testing.T) {
	tab := NewTable()
	apply(t, tab, first)
	ev := apply(t, tab, `{"PeersRemoved": [2], "PeersChanged": [{"ID": 2, "Name": "db2.tailnet.test."}]}`)
	if len(ev.Removed) != 0 || len(ev.Peers) != 1 || ev.Peers[0].Name != "db2.tailnet.test." {
		t.Fatalf("event %+v", ev)
	}
}

func TestPacketFilterChunksMergeSortedAndEmptyMeansAllowNothing(t *testing.T) {
	tab := NewTable()
	apply(t, tab, first)
	// Named chunks join the legacy "base" chunk, in key order.
	ev := apply(t, tab, `{"PacketFilters": {"zz": [{"SrcIPs": ["100.64.0.9"], "DstPorts": [{"IP": "100.64.0.1", "Ports": {"First": 22, "Last": 22}}]}],
	                                        "aa": [{"SrcIPs": ["100.64.0.8"], "DstPorts": [{"IP": "100.64.0.1", "Ports": {"First": 80, "Last": 80}}]}]}}`)
	f := *ev.PacketFilter
	if len(f) != 3 || f[0].SrcPrefixes[0] != "100.64.0.8/32" || f[1].SrcPrefixes[0] != "0.0.0.0/0" || f[2].SrcPrefixes[0] != "100.64.0.9/32" {
		t.Fatalf("merged %+v", f)
	}
	// null deletes one chunk.
	ev = apply(t, tab, `{"PacketFilters": {"aa": null}}`)
	if len(*ev.PacketFilter) != 2 {
		t.Fatalf("after delete %+v", *ev.PacketFilter)
	}
	// "*": null clears everything, then the other keys apply.
	ev = apply(t, tab, `{"PacketFilters": {"*": null, "only": [{"SrcIPs": ["100.64.0.7"], "DstPorts": [{"IP": "*", "Ports": {"First": 1, "Last": 2}}]}]}}`)
	if f := *ev.PacketFilter; len(f) != 1 || f[0].SrcPrefixes[0] != "100.64.0.7/32" {
		t.Fatalf("after clear %+v", f)
	}
	// An empty legacy list is a change to "allow nothing" from the base chunk; null is "unchanged".
	if ev := apply(t, tab, `{"PacketFilter": null}`); ev != nil {
		t.Fatalf("null filter gave %+v", ev)
	}
	ev = apply(t, tab, `{"PacketFilters": {"*": null}, "PacketFilter": []}`)
	if ev == nil || ev.PacketFilter == nil || len(*ev.PacketFilter) != 0 {
		t.Fatalf("empty filter %+v", ev)
	}
	data, _ := json.Marshal(ev)
	if !json.Valid(data) || !strings.Contains(string(data), `"packetFilter":[]`) {
		t.Fatalf("JSON %s", data)
	}
}

func TestDERPMapChangeIsReportedOnce(t *testing.T) {
	tab := NewTable()
	apply(t, tab, first)
	if ev := apply(t, tab, `{"DERPMap": {"Regions": {"900": {"RegionID": 900}}}}`); ev != nil {
		t.Fatalf("same DERP map gave %+v", ev)
	}
	ev := apply(t, tab, `{"DERPMap": {"Regions": {"901": {"RegionID": 901}}}}`)
	if ev == nil || string(ev.DERPMap) != `{"Regions": {"901": {"RegionID": 901}}}` {
		t.Fatalf("event %+v", ev)
	}
}
