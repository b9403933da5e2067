package reuseport

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// File fails, and says so, when the process may open no more descriptors.
func TestFileReportsAFailedDup(t *testing.T) {
	l, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	// With a soft limit of 0 no new descriptor can be numbered (EMFILE);
	// the open ones stay usable. Nothing else runs meanwhile.
	low := saved
	low.Cur = 0
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	f, ferr := File(l)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	if ferr == nil {
		f.Close()
		t.Fatal("File succeeded with no descriptor left")
	}
	if !strings.HasPrefix(ferr.Error(), "dup listener 127.0.0.1:") {
		t.Fatalf("File: %v, want it to name the listener", ferr)
	}
}
