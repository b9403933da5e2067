package reuseport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary play a process other than the test, as
// Go's os/exec tests do: TestMain runs the role named by the variable
// instead of the tests.
const helperEnv = "SPREAD_REUSEPORT_TEST_HELPER"

func TestMain(m *testing.M) {
	switch role := os.Getenv(helperEnv); role {
	case "":
		os.Exit(m.Run())
	case "listen":
		listenUntilStdinCloses()
	default:
		fmt.Fprintf(os.Stderr, "unknown %s role %q\n", helperEnv, role)
		os.Exit(2)
	}
}

// listenUntilStdinCloses is the child's side of startListenerChild: it
// listens on a free 127.0.0.1 port, prints the port, and holds it until its
// parent closes stdin (or dies).
func listenUntilStdinCloses() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startListenerChild re-executes the test binary as a listening child and
// returns its pid and port. The child is killed and waited for when the
// test ends.
func startListenerChild(t *testing.T) (pid, port int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=listen")
	cmd.Stderr = os.Stderr
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })

	// StdoutPipe is an *os.File pipe, which takes a deadline.
	stdout.(*os.File).SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("waiting for the child to print its port: %v", err)
	}
	port, err = strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("child printed %q, not a port", line)
	}
	return cmd.Process.Pid, port
}

// waitFor polls cond until it holds or timeout passes; on timeout the test
// fails, naming what it waited for and what it last saw.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s", timeout, what, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
