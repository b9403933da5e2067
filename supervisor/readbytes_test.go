package supervisor

import (
	"os"
	"testing"
)

func TestReadBytesFollowsWhatAProcessReads(t *testing.T) {
	before := readBytes(os.Getpid())
	if before < 0 {
		t.Fatalf("rchar of this process: %d", before)
	}
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		t.Fatal(err)
	}
	if after := readBytes(os.Getpid()); after <= before {
		t.Fatalf("rchar went from %d to %d across a read", before, after)
	}
	if got := readBytes(notAPid); got != -1 {
		t.Fatalf("readBytes of no process = %d, want -1", got)
	}
}
