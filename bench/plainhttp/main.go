// Command plainhttp is the baseline of make bench: a single-process
// net/http hello server with no spread code in it, so that the cost of
// spread is measured against Go itself. It answers every path like
// spread's "/": the same body and Content-Type, without X-Worker.
//
//	plainhttp -addr 127.0.0.1:8000
//
// With -prefork N it is the bench's "netprefork" subject instead: N copies
// of the same server, each with GOMAXPROCS 1 on its own SO_REUSEPORT socket,
// started by a parent that does nothing else (fasthttp/prefork's shape, with
// net/http). It separates what spread's own code costs from what running
// several Go processes on few cores costs.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	goreuseport "github.com/libp2p/go-reuseport"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "TCP address to serve")
	prefork := flag.Int("prefork", 0, "start this many child servers on SO_REUSEPORT sockets, each with GOMAXPROCS 1 (0: serve in this process)")
	child := flag.Bool("child", false, "serve on an SO_REUSEPORT socket (set by -prefork)")
	flag.Parse()
	var err error
	switch {
	case *prefork > 0:
		err = runChildren(*addr, *prefork)
	case *child:
		var ln net.Listener
		if ln, err = goreuseport.Listen("tcp", *addr); err == nil {
			err = http.Serve(ln, http.HandlerFunc(hello()))
		}
	default:
		err = http.ListenAndServe(*addr, http.HandlerFunc(hello()))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "plainhttp: %v\n", err)
		os.Exit(1)
	}
}

func hello() func(http.ResponseWriter, *http.Request) {
	body := []byte("Hello World from worker process " + strconv.Itoa(os.Getpid()))
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(body)
	}
}

// runChildren starts n children and waits for them. SIGTERM or SIGINT is
// passed on; the children also die with the parent (Pdeathsig), so a
// benchmark that kills the parent leaves nothing behind.
func runChildren(addr string, n int) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	cmds := make([]*exec.Cmd, 0, n)
	for range n {
		cmd := exec.Command(os.Args[0], "-child", "-addr", addr)
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			for _, c := range cmds {
				_ = c.Process.Kill()
			}
			return fmt.Errorf("start child: %w", err)
		}
		cmds = append(cmds, cmd)
	}
	exited := make(chan error, n)
	for _, c := range cmds {
		go func() { exited <- c.Wait() }()
	}
	select {
	case sig := <-sigs:
		for _, c := range cmds {
			_ = c.Process.Signal(sig)
		}
		for range cmds {
			<-exited
		}
		return nil
	case err := <-exited:
		// One child gone is a broken subject: end the rest, say why.
		for _, c := range cmds {
			_ = c.Process.Kill()
		}
		return fmt.Errorf("a child exited: %v", err)
	}
}
