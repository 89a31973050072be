package shrink

import "testing"

func TestDue(t *testing.T) {
	tests := []struct {
		rows, peak int
		want       bool
	}{
		{0, 0, false},                   // never held a row
		{0, MinPeak - 1, false},         // emptied, but small
		{MinPeak / 4, MinPeak, true},    // exactly a quarter of the smallest peak rebuilt
		{MinPeak/4 + 1, MinPeak, false}, // one above
		{0, MinPeak, true},
		{1024, 4096, true}, // exactly a quarter
		{1025, 4096, false},
		{1024, 4099, true}, // a quarter, rounded down, of 4099 is 1024
		{1025, 4099, false},
		{4096, 4096, false}, // at its peak
	}
	for _, tt := range tests {
		if got := Due(tt.rows, tt.peak); got != tt.want {
			t.Errorf("Due(%d, %d) = %v, want %v", tt.rows, tt.peak, got, tt.want)
		}
	}
}
