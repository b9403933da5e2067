package supervisor

import "time"

// cpuWindow is the shortest interval a CPU percentage is measured over:
// shorter ones make two status calls in a row read noise.
const cpuWindow = time.Second

// cpuMeter turns a worker's cumulative CPU time into a percentage of one
// core over the last interval: from the previous sample at least
// cpuWindow old, or from the worker's start when there is none yet. Its
// zero value is ready to use. It belongs to the supervisor loop.
type cpuMeter struct {
	at      time.Time // when seconds was read; zero before the first window
	seconds float64   // CPU seconds then
	percent float64   // the last window's figure
}

// sample takes the worker's CPU seconds now and returns its CPU use in
// percent of one core (200 is two cores busy).
func (m *cpuMeter) sample(now, started time.Time, seconds float64) float64 {
	if m.at.IsZero() {
		m.at = started
	}
	elapsed := now.Sub(m.at)
	if elapsed < cpuWindow && m.percent != 0 {
		return m.percent
	}
	if elapsed > 0 {
		m.percent = max(0, 100*(seconds-m.seconds)/elapsed.Seconds())
	}
	if elapsed >= cpuWindow {
		m.at, m.seconds = now, seconds
	}
	return m.percent
}
