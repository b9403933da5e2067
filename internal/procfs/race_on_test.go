//go:build race

package procfs

// raceEnabled: under the race detector, x/sys/unix annotates every read
// buffer for it, which moves ReadChars's stack buffer to the heap.
const raceEnabled = true
