package main

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/spreadhttp/spread/internal/procfs"
	"github.com/spreadhttp/spread/supervisor"
)

var flagDrainDelay = &cli.DurationFlag{Name: "drain-delay", EnvVars: []string{"SPREAD_DRAIN_DELAY"},
	Usage: "on a graceful stop, answer /healthz with 503 for this long, serving every other route, before the workers drain, so a load balancer takes the host out first; a second TERM or INT cuts it short (0: none)"}

var flagStopWait = &cli.BoolFlag{Name: "wait",
	Usage: "return only once the server has exited (drain delay and drain included)"}

// stopPoll is how often `spread stop --wait` looks for the server.
const stopPoll = 50 * time.Millisecond

// stopServer asks the server behind the control socket to stop and, with
// wait, returns once its supervisor process is gone. The supervisor's pid
// is read before the stop, so a server that is gone before the poll starts
// is not mistaken for a failure.
func stopServer(path string, wait bool) error {
	client := supervisor.NewClient(path)
	pid := 0
	if wait {
		st, err := client.Status()
		if err != nil {
			return err
		}
		pid = st.Pid
	}
	if err := client.Stop(); err != nil {
		return err
	}
	if !wait {
		fmt.Println("stopping")
		return nil
	}
	fmt.Println("stopping; waiting for the server to exit")
	start := time.Now()
	for processRuns(pid) {
		time.Sleep(stopPoll)
	}
	fmt.Printf("stopped after %s\n", time.Since(start).Round(10*time.Millisecond))
	return nil
}

// processRuns reports whether pid is a process that has not exited: a
// zombie (exited, not yet reaped by its parent) counts as gone. A pid in
// another pid namespace than ours cannot be seen; it counts as gone.
func processRuns(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	st, err := procfs.ReadStat(pid)
	return err == nil && !st.Zombie()
}
