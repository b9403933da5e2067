package supervisor

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The scoreboard is Apache's idea: one shared memory page with an entry per
// worker, which the worker updates with atomic adds on its hot path and the
// supervisor reads whenever it is asked. Counting then costs a few
// uncontended atomic instructions per request and no message at all.
//
// Entries belong to worker processes, not slots: during a rolling restart
// the old and the new worker of a slot count at the same time.

// entry is one worker's counters; 64 bytes, one cache line, so that two
// workers never write the same line.
type entry struct {
	status   [5]atomic.Uint64 // answered requests by class: 1xx..5xx
	open     atomic.Int64     // connections open now
	accepted atomic.Uint64    // connections accepted in all
	_        uint64
}

const entrySize = int(unsafe.Sizeof(entry{}))

// WorkerLimit is the most workers (Config.Workers, Config.MaxWorkers) a
// server can have. Run makes a scoreboard of four entries per worker (a
// reload's and a hung worker's replacements count beside the workers they
// replace), so this bounds it to one memfd of about 16 MiB, and keeps its
// size far from overflowing an int.
const WorkerLimit = 1 << 16

// scoreboard is the supervisor's side: the memory and the file that workers
// map.
type scoreboard struct {
	file *os.File
	mem  []byte
	used []bool
}

// newScoreboard makes a board of n entries in an anonymous memfd, which
// workers inherit and map; it never touches the file system.
func newScoreboard(n int) (*scoreboard, error) {
	fd, err := unix.MemfdCreate("spread-scoreboard", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("scoreboard: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "spread-scoreboard")
	size := n * entrySize
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("scoreboard: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("scoreboard: mmap: %w", err)
	}
	return &scoreboard{file: f, mem: mem, used: make([]bool, n)}, nil
}

// take reserves a zeroed entry for a new worker; -1 when the board is full
// (the worker then counts into private memory and is not reported).
func (b *scoreboard) take() int {
	for i, u := range b.used {
		if !u {
			b.used[i] = true
			clear(b.mem[i*entrySize : (i+1)*entrySize])
			return i
		}
	}
	return -1
}

// release frees an entry once its worker has exited.
func (b *scoreboard) release(i int) {
	if i >= 0 && i < len(b.used) {
		b.used[i] = false
	}
}

func (b *scoreboard) entry(i int) *entry {
	return (*entry)(unsafe.Pointer(&b.mem[i*entrySize]))
}

// read returns a copy of entry i's counters.
func (b *scoreboard) read(i int) Counts {
	if i < 0 || i >= len(b.used) {
		return Counts{}
	}
	return b.entry(i).counts()
}

func (b *scoreboard) close() {
	unix.Munmap(b.mem)
	b.file.Close()
}

// Counts is a snapshot of one worker's counters.
type Counts struct {
	// Status holds answered requests by status class: [0] is 1xx … [4] is
	// 5xx. JSON labels them: {"1xx": 0, "2xx": 12, …}.
	Status StatusClasses `json:"status"`
	// Open is the number of client connections open now.
	Open int64 `json:"open"`
	// Accepted is the number of client connections accepted in all.
	Accepted uint64 `json:"accepted"`
}

// Requests is the number of answered requests of every class.
func (c Counts) Requests() uint64 {
	var n uint64
	for _, v := range c.Status {
		n += v
	}
	return n
}

// Add returns the sum of two snapshots.
func (c Counts) Add(o Counts) Counts {
	for i := range c.Status {
		c.Status[i] += o.Status[i]
	}
	c.Open += o.Open
	c.Accepted += o.Accepted
	return c
}

func (e *entry) counts() Counts {
	var c Counts
	for i := range e.status {
		c.Status[i] = e.status[i].Load()
	}
	c.Open = e.open.Load()
	c.Accepted = e.accepted.Load()
	return c
}

// Counters is a worker's handle on its scoreboard entry. It implements
// handler.Recorder. Its methods are safe for concurrent use.
type Counters struct {
	e *entry
}

// RequestDone counts one answered request with the given status code.
func (c *Counters) RequestDone(status int) {
	class := status/100 - 1
	if class < 0 || class > 4 {
		class = 4
	}
	c.e.status[class].Add(1)
}

// ConnOpened counts one accepted connection.
func (c *Counters) ConnOpened() {
	c.e.open.Add(1)
	c.e.accepted.Add(1)
}

// ConnClosed counts one closed connection.
func (c *Counters) ConnClosed() {
	c.e.open.Add(-1)
}

// Snapshot returns the counters as they are now.
func (c *Counters) Snapshot() Counts {
	return c.e.counts()
}

// openCounters maps this worker's scoreboard entry. When there is none (or
// it cannot be mapped) the worker counts into private memory: counting
// must never stop a worker from serving.
func openCounters(spec workerSpec) *Counters {
	if spec.Board < 0 {
		return &Counters{e: new(entry)}
	}
	return mapCounters(boardFD, spec.Board)
}

// mapCounters maps entry i of the board open as fd, or returns private
// counters when it cannot.
func mapCounters(fd, i int) *Counters {
	off := i * entrySize
	// mmap offsets must be page aligned: map from the page holding the entry.
	page := off &^ (os.Getpagesize() - 1)
	mem, err := unix.Mmap(fd, int64(page), off-page+entrySize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return &Counters{e: new(entry)}
	}
	return &Counters{e: (*entry)(unsafe.Pointer(&mem[off-page]))}
}
