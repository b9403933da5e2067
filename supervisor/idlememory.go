package supervisor

import (
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// A worker's heap grows with its load: under 64 keep-alive connections a
// net/http worker holds each connection's buffers and goroutine stack, and
// the Go runtime keeps the pages of its peak heap long after the load has
// gone (its background scavenger returns them slowly, and only above the
// heap goal). Once the worker has gone quiet, one forced collection hands
// them back to the kernel. Nothing is done under load: the collection
// would only cost CPU there, and the pages would be taken again at once.

// idleQuiet is how long a worker must have answered no request, with no
// connection open, before it returns its free memory.
const idleQuiet = time.Second

// idleRelease decides when a worker returns its free memory: once per quiet
// spell that follows activity. Its zero value has seen no activity yet.
type idleRelease struct {
	requests uint64    // requests answered at the last observation
	active   bool      // requests were answered since the last release
	quiet    time.Time // when the current quiet spell began; zero while busy
}

// observe takes the worker's counters at now and reports whether the
// worker should return its free memory now.
func (r *idleRelease) observe(c Counts, now time.Time) bool {
	n := c.Requests()
	if n != r.requests || c.Open > 0 {
		r.active = r.active || n != r.requests
		r.requests = n
		r.quiet = time.Time{}
		return false
	}
	if !r.active {
		return false
	}
	if r.quiet.IsZero() {
		r.quiet = now
	}
	if now.Sub(r.quiet) < idleQuiet {
		return false
	}
	r.active, r.quiet = false, time.Time{}
	return true
}

// releaseMemory forces two collections and returns the free pages to the
// kernel; with a worker's small heap they take about a millisecond. The
// first collection only moves the engines' pooled buffers (sync.Pool) to
// the pools' victim caches; the second frees them.
func releaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// supervisorGOGC is the supervisor's GOGC. Its live heap is a few hundred
// KB and it allocates only a little per event (a heartbeat, a steering
// change, a status request), but Go's default lets the heap grow to at
// least 4 MB of garbage before the first collection. At 25 the floor is
// 1 MB, and the extra collections cost next to nothing at the
// supervisor's rate of allocation.
const supervisorGOGC = 25

// leanRuntime sets the supervisor's own Go runtime for a process that
// mostly waits: GOGC to supervisorGOGC and GOMAXPROCS to 1, each unless the
// user set it in the environment. Events reach the supervisor a few at a
// time, and a second P cost 0.2-0.55 MB of resident memory on a 2-core
// machine (2.7 against 3.3 MB at start, 3.3 against 3.6 MB after minutes
// idle): each P keeps its own cache of partly used spans, its own GC mark
// worker and its own GC buffers.
// Workers are not affected: these are this process's settings; workers get
// the environment, and their own GOMAXPROCS (workerEnviron).
func leanRuntime() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(supervisorGOGC)
	}
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok {
		runtime.GOMAXPROCS(1)
	}
}
