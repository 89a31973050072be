package maps

import (
	"reflect"
	"testing"
)

// The Go types every collector decodes its maps with are the C types of
// bpfleet/maps.h: same size, and each field at the same offset with the
// same size as the bpf2go-generated type.
func TestLayoutsMatchC(t *testing.T) {
	for _, tc := range []struct{ goType, c any }{
		{CounterKey{}, typesCounterKey{}},
		{HistKey{}, typesHistKey{}},
		{HistValue{}, typesHistValue{}},
	} {
		g, c := reflect.TypeOf(tc.goType), reflect.TypeOf(tc.c)
		if g.Size() != c.Size() {
			t.Errorf("%s is %d bytes, C's %d", g, g.Size(), c.Size())
		}
		gFields, cFields := sized(g), sized(c)
		if len(gFields) != len(cFields) {
			t.Errorf("%s has %d fields, C's %d", g, len(gFields), len(cFields))
			continue
		}
		for i, gf := range gFields {
			cf := cFields[i]
			if gf.Offset != cf.Offset || gf.Type.Size() != cf.Type.Size() || gf.Type.Kind() != cf.Type.Kind() {
				t.Errorf("%s.%s (offset %d, %s) is C's %s (offset %d, %s)", g, gf.Name, gf.Offset, gf.Type, cf.Name, cf.Offset, cf.Type)
			}
		}
	}
}

// Every enum lost_reason value has a name.
func TestEveryLostReasonNamed(t *testing.T) {
	if len(LostReasons) != int(typesLostReasonLOST_REASONS) {
		t.Fatalf("%d lost reasons named, C has %d", len(LostReasons), typesLostReasonLOST_REASONS)
	}
	for i, name := range LostReasons {
		if name == "" {
			t.Errorf("lost reason %d has no name", i)
		}
	}
}

// sized returns the fields of t that take room (not structs.HostLayout).
func sized(t reflect.Type) []reflect.StructField {
	var fields []reflect.StructField
	for i := range t.NumField() {
		if f := t.Field(i); f.Type.Size() > 0 {
			fields = append(fields, f)
		}
	}
	return fields
}
