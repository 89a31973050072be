package exporter

import (
	"testing"
	"time"
)

func TestScrapeTimeoutHeader(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"10", 9500 * time.Millisecond, true}, // margin capped at 500ms
		{"1", 900 * time.Millisecond, true},   // a tenth
		{"0.5", 450 * time.Millisecond, true},
		{"", 0, false},
		{"0", 0, false},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"+Inf", 0, false},
		{"1e300", 0, false},
		{"ten", 0, false},
	}
	for _, tt := range tests {
		got, ok := scrapeTimeout(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("scrapeTimeout(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}
