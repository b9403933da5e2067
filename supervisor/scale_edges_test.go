package supervisor

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestScaleLogsOnlyAChange(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1, MaxWorkers: 2}, always(healthy))
	var logs bytes.Buffer
	h.s.log = zerolog.New(&logs)
	if n, err := h.s.scaleTo(1); n != 1 || err != nil {
		t.Fatalf("scale to 1: %d, %v", n, err)
	}
	if strings.Contains(logs.String(), `"message":"scaled"`) {
		t.Fatalf("scaling to the current count logged a change: %s", logs.String())
	}
	if n, err := h.s.scaleTo(2); n != 2 || err != nil {
		t.Fatalf("scale to 2: %d, %v", n, err)
	}
	if !strings.Contains(logs.String(), `"from":1,"to":2,"message":"scaled"`) {
		t.Fatalf("scaling from 1 to 2 logged no change: %s", logs.String())
	}
}

func TestAScaledDownSlotStaysUntilItsWorkerHasDrained(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2}, always(healthy))
	h.until("every worker online", time.Second, h.online)
	h.drainFor(time.Second)
	if n, err := h.s.scaleTo(1); n != 1 || err != nil {
		t.Fatalf("scale to 1: %d, %v", n, err)
	}
	h.settle()
	if len(h.s.slots) != 2 || !h.s.slots[1].scaledDown {
		t.Fatalf("%d slots right after scaling down; want slot 1 kept, scaled down, while its worker drains", len(h.s.slots))
	}
	h.until("the scaled-down slot is dropped", 5*time.Second, func() bool { return len(h.s.slots) == 1 })
	if h.s.slots[0].index != 0 || !h.procs.of(1)[0].gone {
		t.Fatalf("slot %d kept, slot 1's worker gone: %v; want slot 0 kept once slot 1's worker exited",
			h.s.slots[0].index, h.procs.of(1)[0].gone)
	}
}
