package supervisor

import (
	"testing"
)

func TestScoreboardHandsOutEachEntryOnceAndZeroesReusedOnes(t *testing.T) {
	b, err := newScoreboard(3)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	for want := range 3 {
		if got := b.take(); got != want {
			t.Fatalf("take %d = %d", want, got)
		}
	}
	if got := b.take(); got != -1 {
		t.Fatalf("take on a full board = %d, want -1", got)
	}
	c := &Counters{e: b.entry(1)}
	c.RequestDone(200)
	c.ConnOpened()
	if got := b.read(1); got.Requests() != 1 || got.Open != 1 || got.Accepted != 1 {
		t.Fatalf("entry 1 reads %+v after one request on one connection", got)
	}
	b.release(1)
	b.release(-1) // out of range: ignored
	b.release(3)
	if got := b.take(); got != 1 {
		t.Fatalf("take after releasing entry 1 = %d, want 1", got)
	}
	if got := b.read(1); got != (Counts{}) {
		t.Fatalf("a reused entry starts with %+v, want zeroes", got)
	}
	for _, i := range []int{-1, 3} {
		if got := b.read(i); got != (Counts{}) {
			t.Errorf("read(%d) = %+v, want zeroes", i, got)
		}
	}
}

func TestCountersSortStatusCodesIntoClasses(t *testing.T) {
	c := &Counters{e: new(entry)}
	for _, code := range []int{100, 199, 200, 204, 299, 301, 404, 499, 500, 599, 600, 99, 0} {
		c.RequestDone(code)
	}
	// 600, 99 and 0 are no class of their own: they count as 5xx.
	want := [5]uint64{2, 3, 1, 2, 5}
	got := c.Snapshot()
	if got.Status != want || got.Requests() != 13 {
		t.Fatalf("classes %v (%d requests), want %v (13)", got.Status, got.Requests(), want)
	}
	c.ConnOpened()
	c.ConnOpened()
	c.ConnClosed()
	if got := c.Snapshot(); got.Open != 1 || got.Accepted != 2 {
		t.Fatalf("after two opens and a close: open %d accepted %d, want 1 and 2", got.Open, got.Accepted)
	}
}

func TestCountsAddSumsEveryField(t *testing.T) {
	a := Counts{Status: [5]uint64{1, 2, 3, 4, 5}, Open: 2, Accepted: 7}
	b := Counts{Status: [5]uint64{10, 20, 30, 40, 50}, Open: -1, Accepted: 3}
	want := Counts{Status: [5]uint64{11, 22, 33, 44, 55}, Open: 1, Accepted: 10}
	if got := a.Add(b); got != want {
		t.Fatalf("Add = %+v, want %+v", got, want)
	}
	if a.Status[0] != 1 {
		t.Fatal("Add changed its receiver")
	}
}

// A worker maps its entry from the board's file; what it counts there the
// supervisor reads. Entry 70 lies past the first page, so the mapping's
// page alignment is exercised.
func TestWorkerCountersLandInTheSupervisorsEntry(t *testing.T) {
	b, err := newScoreboard(80)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	fd := int(b.file.Fd())
	for _, i := range []int{0, 1, 63, 64, 70, 79} {
		c := mapCounters(fd, i)
		c.RequestDone(404)
		c.ConnOpened()
		if got := b.read(i); got.Status[3] != 1 || got.Open != 1 || got.Accepted != 1 {
			t.Errorf("entry %d reads %+v after the worker counted a 404 on one connection", i, got)
		}
		for _, j := range []int{i - 1, i + 1} {
			if j >= 0 && j < 80 && b.read(j).Accepted > 1 {
				t.Errorf("entry %d counted into its neighbour %d", i, j)
			}
		}
	}
	private := openCounters(workerSpec{Board: -1})
	private.RequestDone(200)
	if got := private.Snapshot(); got.Status[1] != 1 {
		t.Fatalf("a worker without an entry cannot count: %+v", got)
	}
	if c := mapCounters(-1, 2); c == nil {
		t.Fatal("an unmappable board left the worker without counters")
	} else {
		c.RequestDone(200)
		if b.read(2).Status[1] != 0 {
			t.Fatal("counters of an unmapped entry reached the board")
		}
	}
}
