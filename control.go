package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/spreadhttp/spread/supervisor"
)

var flagControlSocket = &cli.StringFlag{Name: "control-socket", EnvVars: []string{"SPREAD_CONTROL_SOCKET"},
	Usage: "control socket path (default: derived from --addr under $XDG_RUNTIME_DIR/spread, /run/spread or the temp dir)"}

// controlPath is the control socket the flags name, where serve opens it.
func controlPath(c *cli.Context) string {
	if p := c.String("control-socket"); p != "" {
		return p
	}
	return supervisor.DefaultControlSocket(c.String("addr"))
}

// serverPath is the control socket the flags name, where a client looks
// for it (see supervisor.FindControlSocket).
func serverPath(c *cli.Context) string {
	if p := c.String("control-socket"); p != "" {
		return p
	}
	return supervisor.FindControlSocket(c.String("addr"))
}

// clientFlags locate a running server.
func clientFlags() []cli.Flag {
	return []cli.Flag{flagAddr, flagControlSocket}
}

func controlCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:         "status",
			Usage:        "show every worker of a running server: state, load, restarts, memory, CPU",
			OnUsageError: usageError,
			Flags:        append(clientFlags(), &cli.BoolFlag{Name: "json", Usage: "print the status as JSON"}),
			Action: func(c *cli.Context) error {
				st, err := supervisor.NewClient(serverPath(c)).Status()
				if err != nil {
					return err
				}
				if c.Bool("json") {
					enc := json.NewEncoder(os.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(st)
				}
				printStatus(os.Stdout, st.Status)
				if r := st.LastReload; r != nil && r.Result == supervisor.ReloadFailed {
					fmt.Printf("last reload failed %s ago: %s\n", round(time.Since(r.At).Seconds()), r.Error)
				}
				return nil
			},
		},
		{
			Name:         "reload",
			Usage:        "replace every worker, one slot at a time, from the binary now on disk; waits for the outcome",
			OnUsageError: usageError,
			Flags: append(clientFlags(), &cli.BoolFlag{Name: "wait", Value: true,
				Usage: "wait until the reload has ended, and fail if it failed; --wait=false only starts it"}),
			Action: func(c *cli.Context) error {
				client := supervisor.NewClient(serverPath(c))
				id, err := client.Reload()
				if err != nil {
					return err
				}
				if !c.Bool("wait") {
					fmt.Printf("reload %d started\n", id)
					return nil
				}
				r, err := client.WaitReload(id, 100*time.Millisecond)
				if err != nil {
					return err
				}
				if r.Result == supervisor.ReloadFailed {
					return fmt.Errorf("reload failed, the old workers keep serving: %s", r.Error)
				}
				fmt.Println("reload finished")
				return nil
			},
		},
		{
			Name:         "scale",
			Usage:        "set the number of workers: spread scale N",
			ArgsUsage:    "N",
			OnUsageError: usageError,
			Flags: append(clientFlags(), &cli.BoolFlag{Name: "wait",
				Usage: "return only once exactly N workers are online, and fail with the reason if a new one cannot start"}),
			Action: func(c *cli.Context) error {
				n, err := strconv.Atoi(c.Args().First())
				if err != nil || c.NArg() != 1 {
					return fmt.Errorf("scale wants one worker count, as in: spread scale 4")
				}
				if n < 1 {
					return fmt.Errorf("scale: the worker count must be at least 1, got %d", n)
				}
				client := supervisor.NewClient(serverPath(c))
				since := time.Now()
				got, err := client.Scale(n)
				if err != nil {
					return err
				}
				if c.Bool("wait") {
					if err := client.WaitScale(got, since, 100*time.Millisecond); err != nil {
						return fmt.Errorf("scale to %s failed: %w", plural(uint64(got), "worker"), err)
					}
					fmt.Printf("scaled to %s\n", plural(uint64(got), "worker"))
					return nil
				}
				if got != n {
					fmt.Printf("scaling to %s (capped by --max-workers)\n", plural(uint64(got), "worker"))
				} else {
					fmt.Printf("scaling to %s\n", plural(uint64(got), "worker"))
				}
				return nil
			},
		},
		{
			Name:         "stop",
			Usage:        "stop a running server gracefully",
			OnUsageError: usageError,
			Flags:        append(clientFlags(), flagStopWait),
			Action: func(c *cli.Context) error {
				return stopServer(serverPath(c), c.Bool("wait"))
			},
		},
		{
			Name:         "upgrade",
			Usage:        "replace the running supervisor with the spread binary now on disk, without closing a socket (also: SIGUSR2)",
			OnUsageError: usageError,
			Flags:        clientFlags(),
			Action: func(c *cli.Context) error {
				pid, err := supervisor.NewClient(serverPath(c)).Upgrade()
				if err != nil {
					return err
				}
				fmt.Printf("upgraded: supervisor %d serves now\n", pid)
				return nil
			},
		},
	}
}

// printStatus writes the status table, one row per worker, and a summary
// line with the spread of load: the largest worker's share over the fair
// share (1.00 is a perfect spread). QUEUE is the slot's accept queue;
// REQUESTS and SHARE read "-" for a command of the user's, which spread
// cannot count.
//
// The summary's request total counts every slot's workers, past and
// present, as /metrics does: it never drops on a reload. SHARE is each
// live worker's part of what the live workers answered. CPU is percent of
// one core over the last second or more.
func printStatus(out io.Writer, st supervisor.Status) {
	var total, live uint64
	known := false
	counted := map[int]bool{}
	for _, w := range st.Workers {
		if w.Requests != nil {
			live += *w.Requests
			known = true
			if !counted[w.Slot] {
				counted[w.Slot] = true
				total += w.SlotRequests.Requests()
			}
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tPID\tSTATE\tUPTIME\tQUEUE\tREQUESTS\tSHARE\tCONNS\tRESTARTS\tLAST EXIT\tRSS\tCPU")
	maxShare, serving := 0.0, 0
	for _, w := range st.Workers {
		requests, share, conns := "-", "-", "-"
		if w.Requests != nil {
			requests, conns = strconv.FormatUint(*w.Requests, 10), strconv.FormatInt(w.Counts.Open, 10)
			s := 0.0
			if live > 0 {
				s = float64(*w.Requests) / float64(live)
			}
			share = fmt.Sprintf("%.1f%%", 100*s)
			if w.Pid != 0 {
				maxShare = max(maxShare, s)
			}
		}
		pid, queue := "-", "-"
		if w.Pid != 0 {
			serving++
			pid = strconv.Itoa(w.Pid)
		}
		if w.Queue >= 0 {
			queue = strconv.Itoa(w.Queue)
		}
		state := w.State
		if w.InSelection != nil && !*w.InSelection && w.Pid != 0 {
			state += " (out of selection)"
		}
		if w.RestartAt != nil {
			state += " in " + time.Until(*w.RestartAt).Round(100*time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%.1f%%\n",
			w.Slot, pid, state, round(w.Uptime), queue, requests, share, conns,
			w.Restarts, w.LastExit, mib(w.RSS), w.CPUPercent)
	}
	tw.Flush()
	spread, requests := "-", "unknown requests"
	if known {
		requests = plural(total, "request")
	}
	if live > 0 && serving > 0 {
		spread = fmt.Sprintf("%.2f", maxShare*float64(serving))
	}
	var flags []string
	if st.Reloading {
		flags = append(flags, "reloading")
	}
	if st.Stopping {
		flags = append(flags, "stopping")
	}
	flags = append(flags, "steering "+st.Steering)
	if st.Spare != nil {
		flags = append(flags, fmt.Sprintf("spare %d %s", st.Spare.Pid, st.Spare.State))
	}
	fmt.Fprintf(out, "supervisor %d on %s, up %s: %d/%d workers online, %s, load spread %s (largest share / fair share)%s\n",
		st.Pid, st.Addr, round(st.Uptime), st.Online, st.Slots, requests, spread, strings.Join(append([]string{""}, flags...), ", "))
}

// plural is "1 worker", "2 workers".
func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatUint(n, 10) + " " + noun + "s"
}

func round(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second)).Round(time.Second)
}

func mib(b uint64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
