package main

// The access policy: a JSON list of tailcfg.FilterRule-shaped rules sent verbatim as every
// node's PacketFilter. The server checks the address and port syntax so that a typo fails at
// start (or on reload) rather than in every client.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// allowAllPolicy lets every node reach every port of every other node (tailcfg.FilterAllowAll).
func allowAllPolicy() []FilterRule {
	return []FilterRule{{
		SrcIPs:   []string{"*"},
		DstPorts: []NetPortRange{{IP: "*", Ports: PortRange{First: 0, Last: 65535}}},
	}}
}

// parsePolicy decodes and checks a policy document.
func parsePolicy(data []byte) ([]FilterRule, error) {
	var rules []FilterRule
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rules); err != nil {
		return nil, fmt.Errorf("policy is not a JSON list of filter rules: %v", err)
	}
	if rules == nil {
		return nil, fmt.Errorf("policy is null; use [] to allow nothing")
	}
	for i, r := range rules {
		if len(r.SrcIPs) == 0 {
			return nil, fmt.Errorf("policy rule %d: SrcIPs is empty", i)
		}
		for _, s := range r.SrcIPs {
			if err := checkIPSpec(s); err != nil {
				return nil, fmt.Errorf("policy rule %d: SrcIPs: %v", i, err)
			}
		}
		if len(r.DstPorts) == 0 && len(r.CapGrant) == 0 {
			return nil, fmt.Errorf("policy rule %d: DstPorts is empty", i)
		}
		for _, d := range r.DstPorts {
			if err := checkIPSpec(d.IP); err != nil {
				return nil, fmt.Errorf("policy rule %d: DstPorts: %v", i, err)
			}
			if d.Ports.First > d.Ports.Last {
				return nil, fmt.Errorf("policy rule %d: DstPorts %s: port range %d-%d is reversed", i, d.IP, d.Ports.First, d.Ports.Last)
			}
		}
		for _, p := range r.IPProto {
			if p < 0 || p > 255 {
				return nil, fmt.Errorf("policy rule %d: IPProto %d is not an IP protocol number", i, p)
			}
		}
	}
	return rules, nil
}

// checkIPSpec accepts the address forms tailcfg.FilterRule documents: "*", an IP, a CIDR
// prefix, or a range "a-b".
func checkIPSpec(s string) error {
	if s == "*" {
		return nil
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		lo, err1 := netip.ParseAddr(a)
		hi, err2 := netip.ParseAddr(b)
		if err1 != nil || err2 != nil || lo.Is4() != hi.Is4() || hi.Less(lo) {
			return fmt.Errorf("%q is not an address range", s)
		}
		return nil
	}
	if strings.Contains(s, "/") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%q is not a prefix", s)
		}
		return nil
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return fmt.Errorf("%q is not \"*\", an address, a prefix or a range", s)
	}
	return nil
}

func loadPolicyFile(path string) ([]FilterRule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %v", err)
	}
	rules, err := parsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return rules, nil
}
