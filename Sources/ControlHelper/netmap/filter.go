package netmap

import (
	"fmt"
	"net/netip"
	"strings"

	"wirenet/Sources/ControlHelper/tailcfg"
)

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	protoICMPv4 = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// defaultProtocols is what a rule without IPProto matches: TCP, UDP, ICMPv4 and ICMPv6
// (tailscale wgengine/filter/tailcfg.go defaultProtos).
var defaultProtocols = []int{protoTCP, protoUDP, protoICMPv4, protoICMPv6}

// DstPorts is one destination of a normalised rule: a prefix and an inclusive port range.
type DstPorts struct {
	Prefix string `json:"prefix"`
	First  uint16 `json:"first"`
	Last   uint16 `json:"last"`
}

// FilterRule is a normalised tailcfg.FilterRule: only prefixes, and the protocols spelled out.
type FilterRule struct {
	SrcPrefixes []string   `json:"srcPrefixes"`
	DstPorts    []DstPorts `json:"dstPorts"`
	Protocols   []int      `json:"protocols"`
}

// NormalizeFilter turns control's rules into prefix-only rules. Entries it cannot read (for example
// "autogroup:…" or a malformed address) are left out and reported in the returned problems; a rule
// left without sources or destinations, or a capability-grant rule without DstPorts, is dropped.
// The result is never nil: an empty list means "allow nothing inbound".
func NormalizeFilter(rules []tailcfg.FilterRule) (out []FilterRule, problems []string) {
	out = []FilterRule{}
	for ri, rule := range rules {
		if len(rule.DstPorts) == 0 {
			continue // capability grants (CapGrant) match no packets
		}
		var norm FilterRule
		for i, src := range rule.SrcIPs {
			bits := -1
			if i < len(rule.SrcBits) {
				bits = rule.SrcBits[i]
			}
			prefixes, err := parseIPSet(src, bits)
			if err != nil {
				problems = append(problems, fmt.Sprintf("rule %d source %q: %v", ri, shorten(src), err))
				continue
			}
			norm.SrcPrefixes = append(norm.SrcPrefixes, prefixes...)
		}
		for _, dst := range rule.DstPorts {
			bits := -1
			if dst.Bits != nil {
				bits = *dst.Bits
			}
			prefixes, err := parseIPSet(dst.IP, bits)
			if err != nil {
				problems = append(problems, fmt.Sprintf("rule %d destination %q: %v", ri, shorten(dst.IP), err))
				continue
			}
			first, last := dst.Ports.First, dst.Ports.Last
			if first > last {
				problems = append(problems, fmt.Sprintf("rule %d destination %q: port range %d-%d is empty", ri, shorten(dst.IP), first, last))
				continue
			}
			for _, p := range prefixes {
				norm.DstPorts = append(norm.DstPorts, DstPorts{Prefix: p, First: first, Last: last})
			}
		}
		if len(rule.IPProto) == 0 {
			norm.Protocols = append([]int(nil), defaultProtocols...)
		} else {
			for _, p := range rule.IPProto {
				if p < 0 || p > 255 {
					problems = append(problems, fmt.Sprintf("rule %d: protocol %d out of range", ri, p))
					continue
				}
				norm.Protocols = append(norm.Protocols, p)
			}
		}
		if len(norm.SrcPrefixes) == 0 || len(norm.DstPorts) == 0 || len(norm.Protocols) == 0 {
			continue
		}
		out = append(out, norm)
	}
	return out, problems
}

// parseIPSet reads one address set of a filter rule: "*", an IP (with the deprecated bits, or a
// host prefix), a prefix, or an inclusive "a-b" range (tailscale wgengine/filter/tailcfg.go
// parseIPSet). It returns masked prefixes in text form.
func parseIPSet(text string, bits int) ([]string, error) {
	if text == "*" {
		return []string{"0.0.0.0/0", "::/0"}, nil
	}
	if strings.Contains(text, "/") {
		p, err := netip.ParsePrefix(text)
		if err != nil {
			return nil, err
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("IPv4-mapped prefix shorter than /96")
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return []string{p.Masked().String()}, nil
	}
	if i := strings.IndexByte(text, '-'); i >= 0 {
		a, err := netip.ParseAddr(text[:i])
		if err != nil {
			return nil, err
		}
		b, err := netip.ParseAddr(text[i+1:])
		if err != nil {
			return nil, err
		}
		a, b = a.Unmap(), b.Unmap()
		if a.Is4() != b.Is4() || b.Less(a) {
			return nil, fmt.Errorf("range %s-%s is not ascending within one address family", a, b)
		}
		return rangePrefixes(a, b), nil
	}
	a, err := netip.ParseAddr(text)
	if err != nil {
		return nil, err
	}
	a = a.Unmap().WithZone("")
	if bits < 0 || bits > a.BitLen() {
		bits = a.BitLen()
	}
	return []string{netip.PrefixFrom(a, bits).Masked().String()}, nil
}

// rangePrefixes returns the fewest prefixes that together cover exactly first...last.
func rangePrefixes(first, last netip.Addr) []string {
	var out []string
	for {
		// The shortest prefix starting at first that stays within last.
		var chosen netip.Prefix
		for bits := 0; bits <= first.BitLen(); bits++ {
			p := netip.PrefixFrom(first, bits)
			if p.Masked().Addr() != first {
				continue
			}
			if end := lastAddr(p); !last.Less(end) {
				chosen = p
				break
			}
		}
		out = append(out, chosen.String())
		end := lastAddr(chosen)
		if end == last {
			return out
		}
		first = end.Next()
	}
}

// lastAddr is the highest address inside a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	if p.Addr().Is4() {
		b := p.Addr().As4()
		setHostBits(b[:], p.Bits())
		return netip.AddrFrom4(b)
	}
	b := p.Addr().As16()
	setHostBits(b[:], p.Bits())
	return netip.AddrFrom16(b)
}

func setHostBits(b []byte, bits int) {
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			if i*8+bit >= bits {
				b[i] |= 0x80 >> bit
			}
		}
	}
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
