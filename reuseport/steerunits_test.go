package reuseport

import (
	"fmt"
	"os"
	"testing"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("steering needs root (CAP_BPF and CAP_NET_ADMIN)")
	}
}

func TestNewSteeringTakesOneKeyOrMore(t *testing.T) {
	needRoot(t)
	if _, err := NewSteering(0); err == nil {
		t.Fatal("NewSteering(0) succeeded")
	}
	s, err := NewSteering(1)
	if err != nil {
		t.Fatalf("NewSteering(1): %v", err)
	}
	defer s.Close()
	// Every key can be eligible at once: the eligible map holds the count
	// and one entry per key.
	if err := s.SetEligible([]int{0}); err != nil {
		t.Fatalf("SetEligible of the one key: %v", err)
	}
	s4, err := NewSteering(4)
	if err != nil {
		t.Fatal(err)
	}
	defer s4.Close()
	if err := s4.SetEligible([]int{0, 1, 2, 3}); err != nil {
		t.Fatalf("SetEligible of all four keys: %v", err)
	}
	if err := s4.SetEligible([]int{3}); err != nil {
		t.Fatalf("shrinking to one key: %v", err)
	}
}

// Linux 5.14 and later have select-or-migrate, and the program must then
// have been loaded with it.
func TestSteeringMigratesOnThisKernel(t *testing.T) {
	needRoot(t)
	s, err := NewSteering(2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(b), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", b, err)
	}
	if (major > 5 || major == 5 && minor >= 14) && !s.Migrates() {
		t.Fatalf("kernel %d.%d: steering loaded without select-or-migrate", major, minor)
	}
}

func TestSteeringCloseReleasesEveryDescriptor(t *testing.T) {
	needRoot(t)
	var none *Steering
	none.Close() // a nil Steering is a no-op
	before := openFDs(t)
	s, err := NewSteering(4)
	if err != nil {
		t.Fatal(err)
	}
	if openFDs(t) == before {
		t.Fatal("NewSteering opened no descriptor: the count below proves nothing")
	}
	s.Close()
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open after Close, %d before NewSteering", after, before)
	}
}
