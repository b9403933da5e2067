package supervisor

import (
	"os"
	"testing"
)

func TestWorkerReadIsMinusOneWithoutAWorker(t *testing.T) {
	if n := workerRead(&slot{}); n != -1 {
		t.Errorf("workerRead of a slot without a worker = %d, want -1", n)
	}
	// This process stands in for a worker: it has read its own binary.
	if n := workerRead(&slot{current: &worker{pid: os.Getpid()}}); n <= 0 {
		t.Errorf("workerRead of a live process = %d, want its bytes read", n)
	}
	if n := workerRead(&slot{current: &worker{pid: fakePidBase}}); n != -1 {
		t.Errorf("workerRead of a pid with no /proc entry = %d, want -1", n)
	}
}

func TestInheritedSlotLooksUpTheHandedOverSlots(t *testing.T) {
	s := &supervisor{inherited: &upgradeSpec{Slots: []upgradeSlot{{Index: 0}, {Index: 2}}}}
	for i, want := range []bool{true, false, true, false} {
		if got := s.inheritedSlot(i); got != want {
			t.Errorf("inheritedSlot(%d) = %v, want %v", i, got, want)
		}
	}
}
