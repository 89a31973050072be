package collector

import "testing"

// Every value of the C enums has a label value: a value added in C and not
// here would be served as an empty label.
func TestEveryEnumValueIsNamed(t *testing.T) {
	for _, table := range []struct {
		name   string
		values []string
		size   int
	}{
		{"qtypes", qtypes[:], int(dnsDnsQtypeQT_OTHER) + 1},
		{"rcodes", rcodes[:], int(dnsDnsRcodeRC_OTHER) + 1},
		{"malformedReasons", malformedReasons[:], int(dnsDnsMalformedReasonMAL_REASONS)},
	} {
		if len(table.values) != table.size {
			t.Errorf("%s has %d values, the C enum %d", table.name, len(table.values), table.size)
		}
		for i, v := range table.values {
			if v == "" {
				t.Errorf("%s[%d] has no label value", table.name, i)
			}
		}
	}
	// Each field of counter_key.event fits its bits.
	if int(dnsDnsQtypeQT_OTHER) > int(dnsDnsLabelBitsEVENT_FIELD_MASK) || int(dnsDnsRcodeRC_OTHER) > int(dnsDnsLabelBitsEVENT_FIELD_MASK) {
		t.Error("a qtype or rcode does not fit 4 bits of counter_key.event")
	}
}

func TestDecodeEvent(t *testing.T) {
	encode := func(kind dnsDnsKind, qt dnsDnsQtype, rc dnsDnsRcode, tcp, v6 uint32) uint32 {
		return uint32(kind) | uint32(qt)<<dnsDnsLabelBitsEVENT_QTYPE_SHIFT | uint32(rc)<<dnsDnsLabelBitsEVENT_RCODE_SHIFT |
			tcp<<dnsDnsLabelBitsEVENT_TCP_SHIFT | v6<<dnsDnsLabelBitsEVENT_IPV6SHIFT
	}
	got, err := decodeEvent(encode(dnsDnsKindDNS_RESPONSE, dnsDnsQtypeQT_HTTPS, dnsDnsRcodeRC_NXDOMAIN, 1, 1))
	want := event{dnsDnsKindDNS_RESPONSE, "HTTPS", "NXDOMAIN", "tcp", "ipv6"}
	if err != nil || got != want {
		t.Errorf("decodeEvent = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []uint32{
		encode(dnsDnsKindDNS_UNTRACKED_FULL+1, dnsDnsQtypeQT_A, 0, 0, 0), // no such kind
		encode(dnsDnsKindDNS_QUERY, dnsDnsQtypeQT_OTHER+1, 0, 0, 0),      // no such qtype
		encode(dnsDnsKindDNS_QUERY, 0, dnsDnsRcodeRC_OTHER+1, 0, 0),      // no such rcode
		1 << dnsDnsLabelBitsEVENT_BITS,
	} {
		if _, err := decodeEvent(bad); err == nil {
			t.Errorf("decodeEvent(%#x) succeeded", bad)
		}
	}
	qt, proto, fam, err := histLabels(uint32(dnsDnsQtypeQT_SRV) | 1<<dnsDnsLabelBitsHIST_IPV6SHIFT)
	if qt != "SRV" || proto != "udp" || fam != "ipv6" || err != nil {
		t.Errorf("histLabels = %s %s %s %v; want SRV udp ipv6", qt, proto, fam, err)
	}
	if _, _, _, err := histLabels(1 << dnsDnsLabelBitsHIST_BITS); err == nil {
		t.Error("histLabels of an unknown bit succeeded")
	}
}
