package supervisor

import "testing"

func TestReusingAnEntryLeavesTheOthersCountsAlone(t *testing.T) {
	b, err := newScoreboard(3)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	for range 3 {
		b.take()
	}
	for i := range 3 {
		(&Counters{e: b.entry(i)}).RequestDone(200)
	}
	b.release(2)
	if got := b.take(); got != 2 {
		t.Fatalf("take after releasing entry 2 = %d", got)
	}
	for i, want := range []uint64{1, 1, 0} {
		if got := b.read(i).Requests(); got != want {
			t.Errorf("entry %d counts %d requests after entry 2 was reused, want %d", i, got, want)
		}
	}
	b.release(0)
	if got := b.take(); got != 0 {
		t.Fatalf("take after releasing entry 0 = %d, want 0", got)
	}
}
