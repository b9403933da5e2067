package supervisor

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series collects st's metrics as "name{label=value,...}" → value.
func series(t *testing.T, st Status) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1000)
	collectStatus(st, ch)
	close(ch)
	out := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		desc := m.Desc().String() // Desc{fqName: "name", ...}
		name := desc[strings.Index(desc, `"`)+1:]
		name = name[:strings.Index(name, `"`)]
		var labels []string
		for _, l := range pb.Label {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(labels)
		key := name + "{" + strings.Join(labels, ",") + "}"
		if _, dup := out[key]; dup {
			t.Errorf("series %s collected twice", key)
		}
		switch {
		case pb.Counter != nil:
			out[key] = pb.Counter.GetValue()
		case pb.Gauge != nil:
			out[key] = pb.Gauge.GetValue()
		}
	}
	return out
}

func TestMetricsSumASlotsWorkersAndKeepItsCountersOnReplacement(t *testing.T) {
	yes, no := true, false
	reqs := uint64(10)
	st := Status{
		Slots: 2, Online: 2, Version: "v9", Steering: "on (ebpf)",
		Exits: map[string]uint64{reasonCrashed: 3, reasonExited: 1},
		Workers: []WorkerStatus{
			// Slot 0 is reloading: its old worker drains beside the new one.
			{Slot: 0, Pid: 10, State: "draining", Uptime: 100, HeartbeatAge: 9, RSS: 1000, CPU: 1.5,
				Counts: Counts{Open: 2}, Requests: &reqs, Restarts: 4, Queue: 3, InSelection: &no, Version: "v8",
				SlotRequests: Counts{Status: [5]uint64{1, 2, 3, 4, 5}}},
			{Slot: 0, Pid: 11, State: "online", Uptime: 1, HeartbeatAge: 0.5, RSS: 500, CPU: 0.25,
				Counts: Counts{Open: 1}, Requests: &reqs, Restarts: 4, Queue: 3, InSelection: &no, Version: "v9"},
			// Slot 1 runs a user's command: not counted, no queue reading.
			{Slot: 1, Pid: 12, State: "online", Uptime: 50, HeartbeatAge: 2, RSS: 700, CPU: 3,
				Queue: -1, InSelection: &yes, Version: "v9"},
		},
	}
	got := series(t, st)
	want := map[string]float64{
		"spread_requests_total{class=1xx,slot=0}":       1,
		"spread_requests_total{class=2xx,slot=0}":       2,
		"spread_requests_total{class=3xx,slot=0}":       3,
		"spread_requests_total{class=4xx,slot=0}":       4,
		"spread_requests_total{class=5xx,slot=0}":       5,
		"spread_connections_open{slot=0}":               3,
		"spread_slot_in_selection{slot=0}":              0,
		"spread_slot_in_selection{slot=1}":              1,
		"spread_slot_queue_length{slot=0}":              3,
		"spread_slot_restarts_total{slot=0}":            4,
		"spread_slot_restarts_total{slot=1}":            0,
		"spread_worker_uptime_seconds{slot=0}":          1, // the online worker's
		"spread_worker_uptime_seconds{slot=1}":          50,
		"spread_worker_heartbeat_age_seconds{slot=0}":   0.5,
		"spread_worker_heartbeat_age_seconds{slot=1}":   2,
		"spread_worker_resident_memory_bytes{slot=0}":   1500,
		"spread_worker_resident_memory_bytes{slot=1}":   700,
		"spread_worker_cpu_seconds{slot=0}":             1.75,
		"spread_worker_cpu_seconds{slot=1}":             3,
		"spread_worker_exits_total{reason=crashed}":     3,
		"spread_worker_exits_total{reason=exited}":      1,
		"spread_steering_enabled{}":                     1,
		"spread_build_info{role=supervisor,version=v9}": 1,
		"spread_build_info{role=worker,version=v8}":     1,
		"spread_build_info{role=worker,version=v9}":     1,
		"spread_workers_online{}":                       2,
		"spread_workers_wanted{}":                       2,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "spread_supervisor_resident_memory_bytes") {
			t.Errorf("unexpected series %s = %v", k, got[k])
		}
	}
	if got["spread_supervisor_resident_memory_bytes{}"] <= 0 {
		t.Error("the supervisor's own memory is not reported")
	}
}

// With no online worker, a slot reports the age of the last live worker
// listed; a
// slot whose worker is gone (pid 0, waiting for a restart) reports zeroes.
func TestMetricsOfASlotWithoutAnOnlineWorker(t *testing.T) {
	st := Status{Steering: "off", Workers: []WorkerStatus{
		{Slot: 0, Pid: 0, State: "restarting", Uptime: 7, HeartbeatAge: 7, Queue: 0},
		{Slot: 1, Pid: 20, State: "starting", Uptime: 0.2, HeartbeatAge: 0.1, Queue: 0},
		{Slot: 1, Pid: 21, State: "draining", Uptime: 90, HeartbeatAge: 3, Queue: 0},
	}}
	got := series(t, st)
	for k, v := range map[string]float64{
		"spread_worker_uptime_seconds{slot=0}":        0,
		"spread_worker_uptime_seconds{slot=1}":        90,
		"spread_worker_heartbeat_age_seconds{slot=1}": 3,
		"spread_slot_queue_length{slot=0}":            0,
		"spread_steering_enabled{}":                   0,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "spread_slot_in_selection") || strings.HasPrefix(k, "spread_requests_total") {
			t.Errorf("%s reported without steering or counts", k)
		}
	}
}

func TestMetricsDescribeEveryFamily(t *testing.T) {
	ch := make(chan *prometheus.Desc, 100)
	(&collector{}).Describe(ch)
	close(ch)
	n := 0
	for range ch {
		n++
	}
	if n != 15 {
		t.Fatalf("%d descriptors, want 15", n)
	}
}
