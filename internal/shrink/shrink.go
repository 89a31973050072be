// Package shrink decides when a table that never gives memory back as it
// empties (a Go map) is rebuilt for the rows it still holds: after
// thousands of workloads came and went, such a table keeps the memory of
// every row it ever held, and its few long-lived rows keep whole spans of
// the heap in use.
package shrink

// MinPeak is the peak number of rows below which a table is never rebuilt:
// small tables cost little, whatever their use.
const MinPeak = 1024

// Due reports whether a table that holds rows now, and held peak at the
// most since it was made, is due to be rebuilt: once it held MinPeak rows
// or more and a quarter or less of its peak remains.
func Due(rows, peak int) bool {
	return peak >= MinPeak && rows <= peak/4
}
