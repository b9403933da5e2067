package supervisor

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/spreadhttp/spread/internal/procfs"
)

// Status is a snapshot of a running server, as `spread status --json` and
// GET /status show it.
type Status struct {
	Pid       int            `json:"pid"`
	Addr      string         `json:"addr"`
	Command   string         `json:"command"`
	StartedAt time.Time      `json:"started_at"`
	Uptime    float64        `json:"uptime_seconds"`
	Slots     int            `json:"slots"`
	Online    int            `json:"online"`
	Reloading bool           `json:"reloading"`
	Stopping  bool           `json:"stopping"`
	Workers   []WorkerStatus `json:"workers"`
	// Exits counts every worker exit so far by reason (see Exit.Reason).
	Exits map[string]uint64 `json:"exits"`
	// Steering is "on", or "off: <why>" (see steer.go).
	Steering string `json:"steering"`
	// Version is the supervisor's spread version (see Version).
	Version string `json:"version"`
	// Upgrading is set while a new supervisor is starting (spread
	// upgrade), and HandedOver once it serves and this one only drains.
	Upgrading  bool `json:"upgrading,omitempty"`
	HandedOver bool `json:"handed_over,omitempty"`
	// Spare is the worker started in advance (Config.Spare), nil when
	// none runs; SparesTaken counts the spares that took a slot.
	Spare       *SpareStatus `json:"spare,omitempty"`
	SparesTaken uint64       `json:"spares_taken"`
}

// SpareStatus is the spare of Status.
type SpareStatus struct {
	Pid int `json:"pid"`
	// State is "starting" until the spare waits for a slot, then "ready".
	State string `json:"state"`
}

// WorkerStatus is one row of the status: a live worker, or a slot waiting
// for its next worker (Pid 0).
type WorkerStatus struct {
	Slot int `json:"slot"`
	Pid  int `json:"pid"`
	// State is one of starting, online, replacing (a reload's or
	// recycle's new worker coming up), draining, hung, killed (SIGKILLed,
	// its exit not reaped yet), or restarting (no worker; one is due).
	State  string  `json:"state"`
	Uptime float64 `json:"uptime_seconds"`
	Counts Counts  `json:"counts"`
	// Requests is what the worker answered; nil (JSON null) when unknown:
	// a command of the user's does not count its requests for spread.
	Requests     *uint64 `json:"requests"`
	Restarts     int     `json:"restarts"`
	LastExit     *Exit   `json:"last_exit,omitempty"`
	HeartbeatAge float64 `json:"heartbeat_age_seconds"`
	RSS          uint64  `json:"rss_bytes"`
	// CPU is the CPU time the worker used so far; CPUPercent is its use
	// over the last second or more, in percent of one core (see cpuMeter).
	CPU        float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"`
	// Queue is the slot's accept-queue length: connections the kernel has
	// accepted that no worker has taken yet. -1 while the slot has no
	// socket.
	Queue int `json:"queue"`
	// Notified is the last STATUS= an exec worker sent over sd_notify.
	Notified string `json:"notify_status,omitempty"`
	// RestartAt is when a restarting slot's next worker starts: a slot in
	// backoff after young deaths shows it, with RecentExits.
	RestartAt *time.Time `json:"restart_at,omitempty"`
	// RecentExits are the slot's last exits, oldest first.
	RecentExits []*Exit `json:"recent_exits,omitempty"`
	// InSelection tells, with steering on, whether the slot gets new
	// connections; nil with steering off.
	InSelection *bool `json:"in_selection,omitempty"`
	// Version is the spread version the worker's binary reported; a
	// reload or upgrade half done shows as two versions.
	Version string `json:"version,omitempty"`
	// SlotRequests counts every request the slot answered, by all its
	// workers, past and present: it never drops on a reload, and it is
	// what /metrics' spread_requests_total counts.
	SlotRequests Counts `json:"slot_counts"`
}

// status builds the snapshot; it runs in the loop.
func (s *supervisor) status() Status {
	now := s.now()
	st := Status{
		Pid:         os.Getpid(),
		Addr:        s.cfg.Addr,
		Command:     s.commandLine(),
		StartedAt:   s.started,
		Uptime:      now.Sub(s.started).Seconds(),
		Slots:       s.activeSlots(),
		Online:      s.onlineCount(),
		Reloading:   s.reload != nil,
		Stopping:    s.stopping,
		Exits:       maps.Clone(s.exits),
		Steering:    s.steeringState(),
		Version:     Version(),
		Upgrading:   s.upgrade != nil && !s.upgrade.done,
		HandedOver:  s.handedOver,
		SparesTaken: s.spares.taken,
	}
	if w := s.spares.w; w != nil && w.state != stateKilled {
		st.Spare = &SpareStatus{Pid: w.pid, State: "starting"}
		if s.spares.ready {
			st.Spare.State = "ready"
		}
	}
	for _, sl := range s.slots {
		var rows []WorkerStatus
		total := sl.past
		for _, w := range s.workers {
			if w.slot == sl {
				ws := s.workerStatus(w, now)
				total = total.Add(ws.Counts)
				rows = append(rows, ws)
			}
		}
		if len(rows) == 0 {
			row := WorkerStatus{Slot: sl.index, State: "restarting",
				Restarts: sl.restarts, LastExit: sl.lastExit}
			if !s.cfg.execMode() {
				row.Requests = new(uint64)
			}
			if !sl.restartAt.IsZero() {
				at := sl.restartAt
				row.RestartAt = &at
			}
			rows = append(rows, row)
		}
		queue := sl.queueLen()
		for i := range rows {
			rows[i].SlotRequests = total
			rows[i].Queue = queue
			rows[i].RecentExits = slices.Clone(sl.recentExits)
			if s.steer != nil {
				in := s.eligible(sl)
				rows[i].InSelection = &in
			}
		}
		st.Workers = append(st.Workers, rows...)
	}
	slices.SortFunc(st.Workers, func(a, b WorkerStatus) int {
		return cmp.Or(cmp.Compare(a.Slot, b.Slot), cmp.Compare(a.Pid, b.Pid))
	})
	return st
}

func (s *supervisor) workerStatus(w *worker, now time.Time) WorkerStatus {
	sl := w.slot
	state := w.state.String()
	if w.state == stateStarting && sl.next == w {
		state = "replacing"
	}
	c := s.board.read(w.board)
	rss, cpu := procUsage(w.pid)
	var requests *uint64
	if !w.exec {
		n := c.Requests()
		requests = &n
	}
	return WorkerStatus{
		Slot:         sl.index,
		Pid:          w.pid,
		State:        state,
		Uptime:       now.Sub(w.started).Seconds(),
		Counts:       c,
		Requests:     requests,
		Restarts:     sl.restarts,
		LastExit:     sl.lastExit,
		HeartbeatAge: now.Sub(w.lastBeat).Seconds(),
		RSS:          rss,
		CPU:          cpu,
		CPUPercent:   w.cpu.sample(now, w.started, cpu),
		Notified:     w.notified,
		Version:      w.version,
	}
}

// procUsage reads a process's resident memory (bytes) and CPU time
// (seconds, user + system) from /proc/<pid>/stat; zeros if it is gone.
func procUsage(pid int) (rss uint64, cpu float64) {
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return 0, 0
	}
	return st.RSSBytes(), st.CPUSeconds()
}

// SupervisorUsage returns this process's own RSS and CPU seconds.
func SupervisorUsage() (rss uint64, cpu float64) { return procUsage(os.Getpid()) }

// String renders an Exit for a table cell.
func (e *Exit) String() string {
	if e == nil {
		return "-"
	}
	how := fmt.Sprintf("code %d", e.Code)
	if e.Signal != "" {
		how = e.Signal
	}
	if e.Detail != "" {
		return e.Detail
	}
	return e.Reason + " (" + how + ")"
}
