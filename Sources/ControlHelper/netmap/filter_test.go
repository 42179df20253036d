package netmap

import (
	"reflect"
	"testing"

	"wirenet/Sources/ControlHelper/tailcfg"
)

func intp(v int) *int { return &v }

func TestFilterStarBecomesBothFamiliesAndDefaultProtocols(t *testing.T) {
	got, problems := NormalizeFilter([]tailcfg.FilterRule{{
		SrcIPs:   []string{"*"},
		DstPorts: []tailcfg.NetPortRange{{IP: "*", Ports: tailcfg.PortRange{First: 0, Last: 65535}}},
	}})
	want := []FilterRule{{
		SrcPrefixes: []string{"0.0.0.0/0", "::/0"},
		DstPorts:    []DstPorts{{Prefix: "0.0.0.0/0", First: 0, Last: 65535}, {Prefix: "::/0", First: 0, Last: 65535}},
		Protocols:   []int{6, 17, 1, 58},
	}}
	if len(problems) != 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, problems %v", got, problems)
	}
}

func TestFilterSingleIPsBecomeHostPrefixesAndBitsApply(t *testing.T) {
	got, _ := NormalizeFilter([]tailcfg.FilterRule{{
		SrcIPs:   []string{"100.64.0.2", "fd7a:115c:a1e0::2", "100.64.0.0"},
		SrcBits:  []int{32, 128, 10},
		DstPorts: []tailcfg.NetPortRange{{IP: "100.64.0.1", Ports: tailcfg.PortRange{First: 80, Last: 80}}, {IP: "10.1.2.3", Bits: intp(24), Ports: tailcfg.PortRange{First: 22, Last: 22}}},
		IPProto:  []int{6},
	}})
	want := []FilterRule{{
		SrcPrefixes: []string{"100.64.0.2/32", "fd7a:115c:a1e0::2/128", "100.64.0.0/10"},
		DstPorts:    []DstPorts{{Prefix: "100.64.0.1/32", First: 80, Last: 80}, {Prefix: "10.1.2.0/24", First: 22, Last: 22}},
		Protocols:   []int{6},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

func TestFilterRangesBecomeCoveringPrefixes(t *testing.T) {
	cases := map[string][]string{
		"100.64.0.1-100.64.0.6":                      {"100.64.0.1/32", "100.64.0.2/31", "100.64.0.4/31", "100.64.0.6/32"},
		"10.0.0.0-10.0.255.255":                      {"10.0.0.0/16"},
		"0.0.0.0-255.255.255.255":                    {"0.0.0.0/0"},
		"192.168.1.7-192.168.1.7":                    {"192.168.1.7/32"},
		"fd7a::-fd7a::ff":                            {"fd7a::/120"},
		"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": {"::/0"},
	}
	for in, want := range cases {
		got, err := parseIPSet(in, -1)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"10.0.0.5-10.0.0.1", "10.0.0.1-fd00::1", "x-y", "autogroup:members", "", "1.2.3.4/33"} {
		if _, err := parseIPSet(bad, -1); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFilterDropsCapGrantsUnreadableEntriesAndEmptyRules(t *testing.T) {
	got, problems := NormalizeFilter([]tailcfg.FilterRule{
		{SrcIPs: []string{"*"}, CapGrant: []byte(`[{"Dsts":["100.64.0.1/32"]}]`)},
		{SrcIPs: []string{"autogroup:members"}, DstPorts: []tailcfg.NetPortRange{{IP: "*", Ports: tailcfg.PortRange{Last: 65535}}}},
		{SrcIPs: []string{"100.64.0.9", "bogus"}, DstPorts: []tailcfg.NetPortRange{{IP: "100.64.0.1", Ports: tailcfg.PortRange{First: 9, Last: 1}}, {IP: "100.64.0.1", Ports: tailcfg.PortRange{First: 443, Last: 443}}}, IPProto: []int{6, 300}},
	})
	want := []FilterRule{{SrcPrefixes: []string{"100.64.0.9/32"}, DstPorts: []DstPorts{{Prefix: "100.64.0.1/32", First: 443, Last: 443}}, Protocols: []int{6}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	if len(problems) != 4 {
		t.Fatalf("problems %q", problems)
	}
}

func TestFilterEmptyMeansAllowNothingNotNil(t *testing.T) {
	got, _ := NormalizeFilter(nil)
	if got == nil || len(got) != 0 {
		t.Fatalf("got %#v", got)
	}
}
