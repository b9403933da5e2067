package supervisor

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes the status as Prometheus metrics, labelled by slot.
// Request counts are per slot and include the slot's past workers, so they
// are true counters: they never go down when a worker is replaced.
type collector struct{ s *supervisor }

var (
	descRequests = prometheus.NewDesc("spread_requests_total",
		"Requests answered by the slot's workers, past and present, by status class.", []string{"slot", "class"}, nil)
	descConns = prometheus.NewDesc("spread_connections_open",
		"Client connections open now on the slot's workers.", []string{"slot"}, nil)
	descRestarts = prometheus.NewDesc("spread_slot_restarts_total",
		"Replacements of the slot's worker after an exit the supervisor did not ask for.", []string{"slot"}, nil)
	descUptime = prometheus.NewDesc("spread_worker_uptime_seconds",
		"Age of the slot's serving worker.", []string{"slot"}, nil)
	descBeat = prometheus.NewDesc("spread_worker_heartbeat_age_seconds",
		"Time since the slot's worker last sent a heartbeat.", []string{"slot"}, nil)
	descRSS = prometheus.NewDesc("spread_worker_resident_memory_bytes",
		"Resident memory of the slot's workers.", []string{"slot"}, nil)
	descCPU = prometheus.NewDesc("spread_worker_cpu_seconds",
		"CPU time (user + system) used so far by the slot's live workers; it drops when a worker is replaced.", []string{"slot"}, nil)
	descQueue = prometheus.NewDesc("spread_slot_queue_length",
		"Connections waiting in the slot's accept queue: completed by the kernel, not yet accepted by a worker.", []string{"slot"}, nil)
	descExits = prometheus.NewDesc("spread_worker_exits_total",
		"Worker exits by reason: exited, crashed, killed by the OOM killer, killed as hung, failed to start, or stopped by spread (reloaded, scaled down, stopped, recycled: <limit>).", []string{"reason"}, nil)
	descSteering = prometheus.NewDesc("spread_steering_enabled",
		"1 when an SK_REUSEPORT program picks each new connection's slot among the healthy ones, 0 when the kernel's hash alone does.", nil, nil)
	descInSelection = prometheus.NewDesc("spread_slot_in_selection",
		"With steering on, 1 when the slot gets new connections, 0 while it is starting, draining, hung or its queue is not moving.", []string{"slot"}, nil)
	descBuild = prometheus.NewDesc("spread_build_info",
		"1 for each spread version running: the supervisor's (role=supervisor) and its workers' (role=worker).", []string{"role", "version"}, nil)
	descOnline = prometheus.NewDesc("spread_workers_online",
		"Workers online now.", nil, nil)
	descSlots = prometheus.NewDesc("spread_workers_wanted",
		"Worker slots the supervisor keeps.", nil, nil)
	descSupRSS = prometheus.NewDesc("spread_supervisor_resident_memory_bytes",
		"Resident memory of the supervisor.", nil, nil)
)

var statusClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descConns, descRestarts, descUptime, descBeat, descRSS, descCPU, descQueue, descExits, descSteering, descInSelection, descBuild, descOnline, descSlots, descSupRSS} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	var st Status
	if !c.s.call(func() { st = c.s.status() }) {
		return
	}
	collectStatus(st, ch)
}

// collectStatus turns one status into the metrics; it needs no loop.
func collectStatus(st Status, ch chan<- prometheus.Metric) {
	type slotSums struct {
		requests     Counts
		open         int64
		restarts     int
		uptime, beat float64
		rss          uint64
		cpu          float64
		serving      bool
		counted      bool // requests are known: a built-in worker
		queue        int
		in           *bool
	}
	sums := map[int]*slotSums{}
	var order []int
	for _, w := range st.Workers {
		sum, ok := sums[w.Slot]
		if !ok {
			sum = &slotSums{requests: w.SlotRequests, restarts: w.Restarts, queue: w.Queue, counted: w.Requests != nil, in: w.InSelection}
			sums[w.Slot] = sum
			order = append(order, w.Slot)
		}
		sum.open += w.Counts.Open
		sum.rss += w.RSS
		sum.cpu += w.CPU
		if w.State == "online" || (!sum.serving && w.Pid != 0) {
			sum.serving = w.State == "online"
			sum.uptime, sum.beat = w.Uptime, w.HeartbeatAge
		}
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for _, slot := range order {
		sum, l := sums[slot], strconv.Itoa(slot)
		if sum.counted {
			// A command of the user's is not counted: no series
			// rather than a false zero.
			for i, class := range statusClasses {
				ch <- prometheus.MustNewConstMetric(descRequests, counter, float64(sum.requests.Status[i]), l, class)
			}
			ch <- prometheus.MustNewConstMetric(descConns, gauge, float64(sum.open), l)
		}
		if sum.in != nil {
			in := 0.0
			if *sum.in {
				in = 1
			}
			ch <- prometheus.MustNewConstMetric(descInSelection, gauge, in, l)
		}
		if sum.queue >= 0 {
			ch <- prometheus.MustNewConstMetric(descQueue, gauge, float64(sum.queue), l)
		}
		ch <- prometheus.MustNewConstMetric(descRestarts, counter, float64(sum.restarts), l)
		ch <- prometheus.MustNewConstMetric(descUptime, gauge, sum.uptime, l)
		ch <- prometheus.MustNewConstMetric(descBeat, gauge, sum.beat, l)
		ch <- prometheus.MustNewConstMetric(descRSS, gauge, float64(sum.rss), l)
		ch <- prometheus.MustNewConstMetric(descCPU, gauge, sum.cpu, l)
	}
	for reason, n := range st.Exits {
		ch <- prometheus.MustNewConstMetric(descExits, counter, float64(n), reason)
	}
	steering := 0.0
	if strings.HasPrefix(st.Steering, "on") {
		steering = 1
	}
	ch <- prometheus.MustNewConstMetric(descSteering, gauge, steering)
	ch <- prometheus.MustNewConstMetric(descBuild, gauge, 1, "supervisor", st.Version)
	versions := map[string]bool{}
	for _, w := range st.Workers {
		if w.Version != "" && !versions[w.Version] {
			versions[w.Version] = true
			ch <- prometheus.MustNewConstMetric(descBuild, gauge, 1, "worker", w.Version)
		}
	}
	ch <- prometheus.MustNewConstMetric(descOnline, gauge, float64(st.Online))
	ch <- prometheus.MustNewConstMetric(descSlots, gauge, float64(st.Slots))
	rss, _ := SupervisorUsage()
	ch <- prometheus.MustNewConstMetric(descSupRSS, gauge, float64(rss))
}
