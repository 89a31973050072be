package collector

import "fmt"

// Closed label values, indexed by the constants that bpf2go generates from
// the C enums (bpf/dns/dns.bpf.c), so that no table depends on the order
// of a C enum.
var (
	qtypes = [...]string{
		dnsDnsQtypeQT_A:     "A",
		dnsDnsQtypeQT_AAAA:  "AAAA",
		dnsDnsQtypeQT_CNAME: "CNAME",
		dnsDnsQtypeQT_MX:    "MX",
		dnsDnsQtypeQT_NS:    "NS",
		dnsDnsQtypeQT_PTR:   "PTR",
		dnsDnsQtypeQT_SOA:   "SOA",
		dnsDnsQtypeQT_SRV:   "SRV",
		dnsDnsQtypeQT_TXT:   "TXT",
		dnsDnsQtypeQT_HTTPS: "HTTPS",
		dnsDnsQtypeQT_SVCB:  "SVCB",
		dnsDnsQtypeQT_ANY:   "ANY",
		dnsDnsQtypeQT_OTHER: "other",
	}
	rcodes = [...]string{
		dnsDnsRcodeRC_NOERROR:  "NOERROR",
		dnsDnsRcodeRC_FORMERR:  "FORMERR",
		dnsDnsRcodeRC_SERVFAIL: "SERVFAIL",
		dnsDnsRcodeRC_NXDOMAIN: "NXDOMAIN",
		dnsDnsRcodeRC_NOTIMP:   "NOTIMP",
		dnsDnsRcodeRC_REFUSED:  "REFUSED",
		dnsDnsRcodeRC_OTHER:    "other",
	}
	malformedReasons = [dnsDnsMalformedReasonMAL_REASONS]string{
		dnsDnsMalformedReasonMAL_TRUNCATED:     "truncated",
		dnsDnsMalformedReasonMAL_BAD_LABEL:     "bad_label",
		dnsDnsMalformedReasonMAL_COMPRESSION:   "compression_loop",
		dnsDnsMalformedReasonMAL_NAME_TOO_LONG: "name_too_long",
		dnsDnsMalformedReasonMAL_NO_QUESTION:   "no_question",
	}
	// protocols and families are indexed by the tcp and ipv6 bits.
	protocols = [2]string{"udp", "tcp"}
	families  = [2]string{"ipv4", "ipv6"}
)

// event is a decoded counter_key.event.
type event struct {
	kind                     dnsDnsKind
	qtype, rcode, proto, fam string
}

// decodeEvent decodes counter_key.event (EVENT in the C source).
func decodeEvent(e uint32) (event, error) {
	const mask = uint32(dnsDnsLabelBitsEVENT_FIELD_MASK)
	kind := dnsDnsKind(e & mask)
	qt := e >> dnsDnsLabelBitsEVENT_QTYPE_SHIFT & mask
	rc := e >> dnsDnsLabelBitsEVENT_RCODE_SHIFT & mask
	tcp := e >> dnsDnsLabelBitsEVENT_TCP_SHIFT & 1
	v6 := e >> dnsDnsLabelBitsEVENT_IPV6SHIFT & 1
	if int(qt) >= len(qtypes) || int(rc) >= len(rcodes) || kind > dnsDnsKindDNS_UNTRACKED_FULL || e>>dnsDnsLabelBitsEVENT_BITS != 0 {
		return event{}, fmt.Errorf("unknown dns event %#x", e)
	}
	return event{kind: kind, qtype: qtypes[qt], rcode: rcodes[rc], proto: protocols[tcp], fam: families[v6]}, nil
}

// histLabels decodes hist_key.labels (HIST_LABELS in the C source).
func histLabels(l uint32) (qtype, protocol, family string, err error) {
	qt := l & uint32(dnsDnsLabelBitsHIST_QTYPE_MASK)
	tcp := l >> dnsDnsLabelBitsHIST_TCP_SHIFT & 1
	v6 := l >> dnsDnsLabelBitsHIST_IPV6SHIFT & 1
	if int(qt) >= len(qtypes) || l>>dnsDnsLabelBitsHIST_BITS != 0 {
		return "", "", "", fmt.Errorf("unknown dns labels %#x", l)
	}
	return qtypes[qt], protocols[tcp], families[v6], nil
}
