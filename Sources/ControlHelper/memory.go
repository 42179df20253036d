package main

import (
	"os"
	"runtime/debug"
)

// The helper's Go runtime lives inside the Swift process, so its heap is the node's memory. Two
// settings keep it near the live data (the merged peer table) instead of its peaks:
//
//   - gcPercent: the heap may grow this far (percent) over the live data before a collection.
//     Go's default is 100 (GOGC=100), i.e. up to twice the live table; 50 trades some CPU during
//     a large map for a third less headroom. A GOGC in the environment wins (the runtime reads it).
//   - largeEventBytes: after an event this large has been delivered, the decode buffers of the
//     map that produced it (zstd output, the decoded MapResponse, the event JSON and its queued
//     copy) are garbage; debug.FreeOSMemory collects and returns them to the OS at once rather
//     than after the scavenger's minutes. A 10,000-peer netmap event is ~4 MB.
const (
	gcPercent       = 50
	largeEventBytes = 1 << 20
)

func init() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// releaseAfterLargeEvent returns freed heap to the OS after a large event (see largeEventBytes).
func releaseAfterLargeEvent(size int) {
	if size >= largeEventBytes {
		debug.FreeOSMemory()
	}
}
