package collector

import (
	"reflect"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/procexit"
)

// The C/Go contract, checked without root: the Go tables name every value
// of the programs' enums (read from the objects' BTF, so a value added in C
// fails here until Go names it), and the generated keys have the layout of
// internal/maps' shared mirrors, which ReadCounters and ReadHistograms use.

// enumValues returns the values of enum name in the BTF of spec, by name.
func enumValues(t *testing.T, load func() (*ebpf.CollectionSpec, error), name string) map[string]uint64 {
	t.Helper()
	spec, err := load()
	if err != nil {
		t.Fatal(err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName(name, &enum); err != nil {
		t.Fatalf("enum %s: %v", name, err)
	}
	values := make(map[string]uint64, len(enum.Values))
	for _, v := range enum.Values {
		values[v.Name] = v.Value
	}
	return values
}

func TestGoTablesNameEveryEnumValue(t *testing.T) {
	for _, tc := range []struct {
		enum   string
		load   func() (*ebpf.CollectionSpec, error)
		named  func(v uint64) bool
		except []string // values never counted
	}{
		{"process_event", procexit.LoadProcess, func(v uint64) bool { _, ok := processEvents[procexit.ProcessProcessEvent(v)]; return ok }, nil},
		{"tcp_kind", loadTcp, func(v uint64) bool { _, ok := tcpKinds[tcpTcpKind(v)]; return ok }, nil},
		{"tcp_family", loadTcp, func(v uint64) bool { _, ok := tcpFamilies[tcpTcpFamily(v)]; return ok }, []string{"EV_TCP_FAMILY_OTHER"}},
		{"block_op", loadBlock, func(v uint64) bool { _, ok := blockOperations[blockBlockOp(v)]; return ok }, nil},
	} {
		values := enumValues(t, tc.load, tc.enum)
		for name, v := range values {
			if named, except := tc.named(v), slices.Contains(tc.except, name); named == except {
				t.Errorf("enum %s: %s (%d) named in Go: %v, want %v", tc.enum, name, v, named, !except)
			}
		}
	}
}

// TestTCPEventEncoding pins tcpEvent, the one Go reading of tcp.bpf.c's
// tcp_event (kind << TCP_EVENT_FAMILY_BITS | family), to the generated
// constants: every counted family fits its bits (tcp.bpf.c asserts the
// same at compile time), so that every kind and family make a distinct
// event, and tcpEvents names exactly those.
func TestTCPEventEncoding(t *testing.T) {
	bits := uint32(tcpTcpEventLayoutTCP_EVENT_FAMILY_BITS)
	for family := range tcpFamilies {
		if uint32(family) >= 1<<bits {
			t.Errorf("family %d does not fit TCP_EVENT_FAMILY_BITS = %d", family, bits)
		}
	}
	if got, want := len(tcpEvents), len(tcpKinds)*len(tcpFamilies); got != want {
		t.Errorf("tcpEvents has %d events, want %d kinds × families", got, want)
	}
	if got, want := tcpEvent(tcpTcpKindEV_TCP_RESET_RECEIVED, tcpTcpFamilyEV_TCP_FAMILY_IPV6), uint32(5<<1|1); got != want {
		t.Errorf("tcpEvent(EV_TCP_RESET_RECEIVED, EV_TCP_FAMILY_IPV6) = %d, want %d", got, want)
	}
}

// TestProcessRowHoldsEveryEvent pins process_counts' value, one counter per
// process_event indexed by it, to the enum: every value indexes a counter.
func TestProcessRowHoldsEveryEvent(t *testing.T) {
	n := uint64(len(procexit.ProcessProcessCountsValue{}.N))
	values := enumValues(t, procexit.LoadProcess, "process_event")
	for name, v := range values {
		if v >= n {
			t.Errorf("process_event %s = %d has no counter in process_counts_value (%d counters)", name, v, n)
		}
	}
	if uint64(len(values)) != n {
		t.Errorf("process_counts_value holds %d counters for %d process_event values", n, len(values))
	}
}

// TestTCPRowHoldsEveryEvent pins tcp_counts' value, one counter per event
// indexed by tcpEvent, to the enums: every tcp_kind in every counted
// tcp_family indexes a counter of its own, and every counter is an event's.
func TestTCPRowHoldsEveryEvent(t *testing.T) {
	n := uint32(len(tcpTcpCountsValue{}.N))
	events := make(map[uint32]string)
	for kind, kv := range enumValues(t, loadTcp, "tcp_kind") {
		for family, fv := range enumValues(t, loadTcp, "tcp_family") {
			if family == "EV_TCP_FAMILY_OTHER" {
				continue // never counted
			}
			event, name := tcpEvent(tcpTcpKind(kv), tcpTcpFamily(fv)), kind+"/"+family
			if event >= n {
				t.Errorf("%s = event %d has no counter in tcp_counts_value (%d counters)", name, event, n)
			}
			if other, ok := events[event]; ok {
				t.Errorf("%s and %s share event %d", name, other, event)
			}
			events[event] = name
		}
	}
	if uint32(len(events)) != n {
		t.Errorf("tcp_counts_value holds %d counters for %d events", n, len(events))
	}
}

// TestKeysHaveTheSharedLayout compares each generated key and value with
// the internal/maps type the collectors read it as, field by field.
func TestKeysHaveTheSharedLayout(t *testing.T) {
	for _, tc := range []struct{ generated, shared any }{
		{procexit.ProcessCounterKey{}, maps.CounterKey{}},
		{tcpCounterKey{}, maps.CounterKey{}},
		{schedHistKey{}, maps.HistKey{}},
		{tcpHistKey{}, maps.HistKey{}},
		{blockHistKey{}, maps.HistKey{}},
		{schedHistValue{}, maps.HistValue{}},
		{tcpHistValue{}, maps.HistValue{}},
		{blockHistValue{}, maps.HistValue{}},
	} {
		g, s := layout(reflect.TypeOf(tc.generated)), layout(reflect.TypeOf(tc.shared))
		if !reflect.DeepEqual(g, s) {
			t.Errorf("%T has layout %v, %T %v", tc.generated, g, tc.shared, s)
		}
	}
}

// field is a struct field's offset, size and kind.
type field struct {
	offset, size uintptr
	kind         reflect.Kind
}

// layout returns the fields of struct type t that take space, and its size.
func layout(t reflect.Type) []field {
	var fields []field
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Size() == 0 {
			continue // structs.HostLayout
		}
		fields = append(fields, field{f.Offset, f.Type.Size(), f.Type.Kind()})
	}
	return append(fields, field{size: t.Size()})
}
