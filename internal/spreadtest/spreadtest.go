// Package spreadtest runs the real spread binary for integration tests and
// drills: it builds it once, starts it on a free loopback port, and offers
// deadline-bound waits on what the tests observe (worker processes, HTTP
// answers, log events). Nothing in it fakes a process.
package spreadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds spread (with the race detector when the tests run with it)
// into a temporary directory, once per test process, and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "spread-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "spread")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "github.com/spreadhttp/spread")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Server is a running `spread serve`.
type Server struct {
	t    testing.TB
	Cmd  *exec.Cmd
	Addr string // 127.0.0.1:port
	log  *Log
	done chan struct{}
}

// Log collects a process's stderr, safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Events returns the JSON log lines whose "message" is msg, in order;
// every line when msg is "".
func (l *Log) Events(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil && (msg == "" || ev["message"] == msg) {
			out = append(out, ev)
		}
	}
	return out
}

// Start runs `spread serve --addr 127.0.0.1:<free port> --log-format json
// args...` and returns without waiting for workers. The process is killed
// when the test ends, if it is still running.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	return StartAt(t, addr, args...)
}

// StartBinary is Start running the spread binary at bin (a copy, a
// rebuilt one) instead of Binary's.
func StartBinary(t testing.TB, bin string, args ...string) *Server {
	t.Helper()
	return start(t, bin, fmt.Sprintf("127.0.0.1:%d", FreePort(t)), nil, args)
}

// StartLoggingTo is Start with the server's stdout and stderr going to out
// (a pipe's write end, say) instead of to Log, which then stays empty. The
// caller may close its copy of out once StartLoggingTo returns.
func StartLoggingTo(t testing.TB, out *os.File, args ...string) *Server {
	t.Helper()
	return start(t, Binary(t), fmt.Sprintf("127.0.0.1:%d", FreePort(t)), nil, args, func(cmd *exec.Cmd) {
		cmd.Stdout, cmd.Stderr = out, out
	})
}

// StartEnv is Start with extra environment variables (KEY=value).
func StartEnv(t testing.TB, env []string, args ...string) *Server {
	t.Helper()
	return start(t, Binary(t), fmt.Sprintf("127.0.0.1:%d", FreePort(t)), env, args)
}

// StartAt is Start on a given address.
func StartAt(t testing.TB, addr string, args ...string) *Server {
	t.Helper()
	return start(t, Binary(t), addr, nil, args)
}

// start runs the server, its output in Log; adjust, when given, changes
// the command before it starts (another output, another user).
func start(t testing.TB, bin, addr string, env, args []string, adjust ...func(*exec.Cmd)) *Server {
	t.Helper()
	full := append([]string{"serve", "--addr", addr, "--log-format", "json"}, args...)
	cmd := exec.Command(bin, full...)
	log := &Log{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(append(os.Environ(), "GOTRACEBACK=all"), env...)
	for _, f := range adjust {
		f(cmd)
	}
	// A process spread started and that outlives it (a test gone wrong)
	// would hold the log pipe open and Wait with it forever.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Cmd: cmd, Addr: addr, log: log, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if !s.Exited() {
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("spread log:\n%s", log.String())
		}
	})
	return s
}

// CLI runs `spread command --addr <this server's address> args...` (flags
// go before positional arguments) and returns
// its combined output and exit code.
func (s *Server) CLI(command string, args ...string) (string, int) {
	s.t.Helper()
	full := append([]string{command, "--addr", s.Addr}, args...)
	cmd := exec.Command(Binary(s.t), full...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			s.t.Fatalf("run spread %s %v: %v", command, args, err)
		}
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// Log is the server's stderr so far.
func (s *Server) Log() *Log { return s.log }

// Pid is the supervisor's pid.
func (s *Server) Pid() int { return s.Cmd.Process.Pid }

// Exited reports whether the supervisor has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait waits up to d for the supervisor to exit and returns its exit code.
func (s *Server) Wait(d time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
		return s.Cmd.ProcessState.ExitCode()
	case <-time.After(d):
		s.t.Fatalf("spread did not exit within %s", d)
		return -1
	}
}

// Signal sends sig to the supervisor.
func (s *Server) Signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.Cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal supervisor: %v", err)
	}
}

// Workers returns the pids of the supervisor's live children, sorted.
func (s *Server) Workers() []int {
	return Children(s.Pid())
}

// Children returns the pids of parent's live (not zombie) children.
func Children(parent int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, ok := procStat(pid)
		if ok && ppid == parent && state != "Z" {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids
}

// procStat reads a process's parent pid and state from /proc/<pid>/stat.
func procStat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// The command, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z"
}

// Eventually polls cond every 20ms until it holds or d passes, then fails
// the test with what it waited for.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitOnline waits until n workers are online: n live children, each of
// which has logged "worker online", and the server answers.
func (s *Server) WaitOnline(n int, d time.Duration) []int {
	s.t.Helper()
	var pids []int
	Eventually(s.t, d, fmt.Sprintf("%d workers online", n), func() bool {
		if s.Exited() {
			s.t.Fatalf("spread exited while waiting for workers:\n%s", s.log.String())
		}
		pids = s.Workers()
		if len(pids) != n {
			return false
		}
		online := map[int]bool{}
		for _, ev := range s.log.Events("worker online") {
			if p, ok := ev["pid"].(float64); ok {
				online[int(p)] = true
			}
		}
		for _, p := range pids {
			if !online[p] {
				return false
			}
		}
		return true
	})
	return pids
}

// Client returns an HTTP client that opens a new connection per request,
// so that every request is a fresh pick by the kernel's reuseport hash.
func Client() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
}

// Reply is one answered request.
type Reply struct {
	Status  int
	Body    string
	Worker  string // X-Worker: slot/pid
	Headers http.Header
	// Close reports "Connection: close" (net/http removes that header
	// from Headers and sets this instead).
	Close bool
}

// Get requests path from the server with a fresh connection.
func (s *Server) Get(path string) (Reply, error) {
	return Get(Client(), "http://"+s.Addr+path)
}

// Get requests url with c.
func Get(c *http.Client, url string) (Reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Reply{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Status: resp.StatusCode, Body: string(b), Worker: resp.Header.Get("X-Worker"), Headers: resp.Header, Close: resp.Close}, nil
}

// WorkerPid is the pid in an X-Worker header ("slot/pid" from the
// built-in server, "pid" from the examples), 0 if there is none.
func (r Reply) WorkerPid() int {
	p := r.Worker
	if _, after, ok := strings.Cut(p, "/"); ok {
		p = after
	}
	pid, _ := strconv.Atoi(p)
	return pid
}

// StopProcess sends SIGSTOP to pid and waits until every thread of it has
// stopped: the signal is asynchronous, and a thread still running on
// another core could accept a connection after kill(2) has returned.
func StopProcess(t testing.TB, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %d: %v", pid, err)
	}
	Eventually(t, 2*time.Second, fmt.Sprintf("every thread of %d stopped", pid), func() bool {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return false
		}
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				return false
			}
			i := bytes.LastIndexByte(b, ')')
			if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				return false
			}
		}
		return true
	})
}

// tcpRow is one /proc/net/tcp row of a port.
type tcpRow struct {
	state   string // hex: 01 ESTABLISHED, 0A LISTEN
	rxQueue int    // for a listener, its accept-queue length
	inode   string
}

// portRows reads the /proc/net/tcp rows whose local port is addr's.
func portRows(t testing.TB, addr string) []tcpRow {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("port of %q: %v", addr, err)
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf(":%04X", p)
	var rows []tcpRow
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// Fields: sl, local, remote, state, tx_queue:rx_queue, tr:when,
		// retrnsmt, uid, timeout, inode, ...
		f := strings.Fields(line)
		if len(f) < 10 || !strings.HasSuffix(f[1], local) {
			continue
		}
		var tx, rx int
		fmt.Sscanf(f[4], "%x:%x", &tx, &rx)
		rows = append(rows, tcpRow{state: f[3], rxQueue: rx, inode: f[9]})
	}
	return rows
}

// PortSockets reads /proc/net/tcp for addr's port: established is the
// number of established connections to it (queued ones included), queued
// the sum of its listening sockets' accept queues.
func PortSockets(t testing.TB, addr string) (established, queued int) {
	t.Helper()
	for _, r := range portRows(t, addr) {
		switch r.state {
		case "01":
			established++
		case "0A":
			queued += r.rxQueue
		}
	}
	return established, queued
}

// ListenInodes returns the socket inodes of the listening sockets on
// addr's port.
func ListenInodes(t testing.TB, addr string) map[string]bool {
	t.Helper()
	inodes := map[string]bool{}
	for _, r := range portRows(t, addr) {
		if r.state == "0A" {
			inodes[r.inode] = true
		}
	}
	return inodes
}

// Accepted is the number of connections to addr that a worker has
// accepted: established ones less those still queued.
func Accepted(t testing.TB, addr string) int {
	t.Helper()
	est, queued := PortSockets(t, addr)
	return est - queued
}
