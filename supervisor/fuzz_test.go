package supervisor

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The parsers of what reaches the supervisor from outside: the control
// API's scale request, the worker spec a worker reads from its
// environment, and the sd_notify messages of a user's program. `make
// test` runs each briefly, `make fuzz` longer; the seeds run in every
// plain go test.

func TestScaleRequest(t *testing.T) {
	for q, want := range map[string]int{
		"workers=4": 4, "workers=1": 1, "workers=0004": 4, "workers=9223372036854775807": 1<<63 - 1,
		"workers=0": -1, "workers=-3": -1, "workers=+3": -1, "workers= 3": -1, "workers=3x": -1,
		"workers=": -1, "": -1, "workers=2&workers=3": -1, "workers=99999999999999999999": -1,
		"workers=%33": 3, "workers=%zz": -1, "n=3": -1,
	} {
		n, err := scaleRequest(q)
		if (err == nil) != (want > 0) || (err == nil && n != want) {
			t.Errorf("scaleRequest(%q) = %d, %v; want %d", q, n, err, want)
		}
	}
}

func FuzzScaleRequest(f *testing.F) {
	for _, s := range []string{"workers=4", "workers=0", "workers=-1", "workers=%34", "workers=1&workers=2", "workers=99999999999999999999", ";", "workers=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := scaleRequest(q)
		if err != nil {
			return
		}
		if n < 1 {
			t.Fatalf("scaleRequest(%q) = %d: below 1", q, n)
		}
		// What was accepted is the one value, in digits.
		if got, err := scaleRequest("workers=" + strconv.Itoa(n)); err != nil || got != n {
			t.Fatalf("scaleRequest(%q) = %d, but its own digits read %d, %v", q, n, got, err)
		}
	})
}

func FuzzWorkerSpec(f *testing.F) {
	valid, _ := json.Marshal(workerSpec{Slot: 2, Addr: "127.0.0.1:8000", Heartbeat: time.Second, GracefulTimeout: 10 * time.Second, Board: 3, Workers: 4, Exec: []string{"node", "server.js"}})
	for _, s := range []string{string(valid), "{}", "", "null", `{"slot":-1}`, `{"board":-2}`, `{"board":9223372036854775807}`, `{"heartbeat":-5}`, `{"exec":null}`, `[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		spec, err := parseSpec(raw)
		if err != nil {
			return
		}
		if spec.Slot < 0 || spec.Workers < 0 || spec.Board < -1 || spec.Heartbeat < 0 || spec.GracefulTimeout < 0 || spec.Watchdog < 0 {
			t.Fatalf("parseSpec(%q) accepted %+v", raw, spec)
		}
		_ = spec.Board * entrySize // must not overflow: checked by the bound
		// A spec the supervisor would write from this one reads back the same.
		again, _ := json.Marshal(spec)
		back, err := parseSpec(string(again))
		if err != nil || !reflect.DeepEqual(normalize(back), normalize(spec)) {
			t.Fatalf("spec %+v does not survive a round trip: %+v, %v", spec, back, err)
		}
	})
}

// normalize makes an empty and a nil command equal, as JSON does.
func normalize(s workerSpec) workerSpec {
	if len(s.Exec) == 0 {
		s.Exec = nil
	}
	return s
}

func FuzzNotifyNote(f *testing.F) {
	for _, s := range []string{"READY=1", "READY=1\nSTATUS=serving\n", "WATCHDOG=1", "=x\n\n==", "STATUS=a=b", "\x00=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		for k, v := range parseNote(msg) {
			if k == "" || strings.Contains(k, "\n") || strings.Contains(v, "\n") {
				t.Fatalf("parseNote(%q) gave %q=%q", msg, k, v)
			}
			if !strings.Contains(msg, k+"="+v) {
				t.Fatalf("parseNote(%q) invented %q=%q", msg, k, v)
			}
		}
	})
}
