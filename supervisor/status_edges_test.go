package supervisor

import (
	"encoding/json"
	"testing"
	"time"
)

func TestStatusSaysReloadingAndReplacing(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, firstThen(healthy, time.Hour))
	h.until("the worker online", time.Second, h.online)
	st := h.s.status()
	if st.Reloading || len(st.Workers) != 1 || st.Workers[0].State != "online" || st.Workers[0].InSelection != nil {
		t.Fatalf("status before a reload: reloading %v, workers %+v; want one online, not reloading, no selection without steering", st.Reloading, st.Workers)
	}
	h.s.startReload()
	st = h.s.status()
	if !st.Reloading || len(st.Workers) != 2 {
		t.Fatalf("status during a reload: reloading %v, %d workers; want reloading, 2 workers", st.Reloading, len(st.Workers))
	}
	states := map[string]bool{}
	for _, w := range st.Workers {
		states[w.State] = true
	}
	if !states["online"] || !states["replacing"] {
		t.Fatalf("worker states during a reload %v, want the old one online and the new one replacing", states)
	}
}

func TestAFirstWorkerThatIsStartingIsNotReplacing(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, func(int, int) (behaviour, time.Duration) { return healthy, time.Hour })
	if st := h.s.status(); st.Workers[0].State != "starting" {
		t.Fatalf("a first worker not yet online is %q, want starting", st.Workers[0].State)
	}
}

func TestStatusClassesRoundTripThroughJSON(t *testing.T) {
	in := StatusClasses{1, 2, 3, 4, 5}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out StatusClasses
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("%s read back as %v, want %v", b, out, in)
	}
	if err := json.Unmarshal([]byte(`{"6xx": 1}`), &out); err == nil {
		t.Fatal("an unknown status class was read")
	}
}

func TestQueuesEmptyCountsOnlyWaitingConnections(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2}, always(healthy))
	if !h.s.queuesEmpty() {
		t.Fatal("slots without sockets are not empty")
	}
	heldSocket(t, h.s.slots[0], 0)
	heldSocket(t, h.s.slots[1], 0)
	if !h.s.queuesEmpty() {
		t.Fatal("empty queues are not empty")
	}
	heldSocket(t, h.s.slots[1], 1)
	if h.s.queuesEmpty() {
		t.Fatal("a queue holding a connection is empty")
	}
}
