package supervisor

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const configTestAddr = "127.0.0.1:8000"

func TestDefaultConfigIsValidAndWhatAZeroConfigBecomes(t *testing.T) {
	d := DefaultConfig()
	d.Addr = configTestAddr
	if err := d.Validate(); err != nil {
		t.Fatalf("DefaultConfig does not validate: %v", err)
	}
	filled := Config{Addr: configTestAddr}.fill()
	d.MaxWorkers = 4 * runtime.NumCPU() // DefaultConfig leaves it to follow Workers
	if !equalConfigs(filled, d) {
		t.Fatalf("a zero Config fills to\n%+v\nDefaultConfig is\n%+v", filled, d)
	}
}

// equalConfigs compares the settings fill touches.
func equalConfigs(a, b Config) bool {
	return a.Workers == b.Workers && a.MaxWorkers == b.MaxWorkers && a.GracefulTimeout == b.GracefulTimeout &&
		a.MinUptime == b.MinUptime && a.MaxBackoff == b.MaxBackoff && a.MaxRestarts == b.MaxRestarts &&
		a.WorkerTimeout == b.WorkerTimeout && a.StartTimeout == b.StartTimeout && a.Ready == b.Ready &&
		a.ReadyDelay == b.ReadyDelay && a.StopSignal == b.StopSignal && a.HangSignal == b.HangSignal &&
		a.Steer == b.Steer && a.SteerQuarantine == b.SteerQuarantine
}

func TestOffStaysOffAndMaxWorkersFollowsWorkers(t *testing.T) {
	c := Config{Addr: configTestAddr, Workers: 4*runtime.NumCPU() + 3, WorkerTimeout: Off, MinUptime: Off}.fill()
	if c.WorkerTimeout != Off || c.MinUptime != Off {
		t.Fatalf("fill turned Off into %s and %s", c.WorkerTimeout, c.MinUptime)
	}
	if c.MaxWorkers != c.Workers {
		t.Fatalf("MaxWorkers %d, want at least Workers %d", c.MaxWorkers, c.Workers)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// Off is a value only for the settings that document it.
	if err := (Config{Addr: configTestAddr, GracefulTimeout: Off}).fill().Validate(); err == nil {
		t.Fatal("GracefulTimeout: Off passed Validate")
	}
}

// Validate names the setting as the flag that sets it, in one line.
func TestValidateNamesTheFlag(t *testing.T) {
	cases := []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Workers = 0 }, "--workers must be at least 1, got 0"},
		{func(c *Config) { c.Workers = WorkerLimit + 1 }, "--workers must be at most"},
		{func(c *Config) { c.MaxWorkers = -1 }, "--max-workers must be at least 1"},
		{func(c *Config) { c.Workers, c.MaxWorkers = 4, 2 }, "--max-workers (2) must be at least --workers (4)"},
		{func(c *Config) { c.GracefulTimeout = 0 }, "--graceful-timeout must be positive"},
		{func(c *Config) { c.MinUptime = -time.Second }, "--min-uptime must not be negative"},
		{func(c *Config) { c.MaxBackoff = 0 }, "--max-backoff must be positive"},
		{func(c *Config) { c.MaxRestarts = 0 }, "--max-restarts must be at least 1"},
		{func(c *Config) { c.StartTimeout = 0 }, "--start-timeout must be positive"},
		{func(c *Config) { c.WorkerTimeout = -time.Second }, "--worker-timeout must not be negative"},
		{func(c *Config) { c.Socket.Backlog = -1 }, "--backlog must not be negative"},
		{func(c *Config) { c.Ready = "soon" }, `--ready must be start or notify, got "soon"`},
		{func(c *Config) { c.ReadyDelay = 0 }, "--ready-delay must be positive"},
		{func(c *Config) { c.Exec, c.ReadyDelay = []string{"app"}, c.StartTimeout }, "--ready-delay (10s) must be shorter than --start-timeout (10s)"},
		{func(c *Config) { c.StopSignal = syscall.SIGKILL }, "--stop-signal must name a signal that can be caught (e.g. TERM, INT, QUIT), got SIGKILL"},
		{func(c *Config) { c.HangSignal = 99 }, "--hang-signal must name a signal that can be caught (e.g. TERM, INT, QUIT), got 99"},
		{func(c *Config) { c.Exec, c.MaxRequests = []string{"app"}, 10 }, "--max-requests needs request counts"},
		{func(c *Config) { c.Steer = "maybe" }, "--steer must be auto, on or off"},
		{func(c *Config) { c.SteerQuarantine = 0 }, "--steer-quarantine must be positive"},
		{func(c *Config) { c.DrainDelay = -time.Second }, "--drain-delay must not be negative"},
		{func(c *Config) { c.MaxAgeJitter = -time.Second }, "--max-age and --max-age-jitter must not be negative"},
		{func(c *Config) { c.Exec = []string{""} }, "the command after -- is empty"},
		{func(c *Config) { c.Addr = "127.0.0.1:0" }, "port 0"},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		c.Addr = configTestAddr
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Validate = %v, want one line with %q", err, tc.want)
		}
	}
}

// The edges of what a process can catch: 1 and 64 (SIGRTMAX) are, 0 and
// 65 are not, nor are KILL and STOP.
func TestCatchableSignalsAreOneToSixtyFourButKillAndStop(t *testing.T) {
	for sig, want := range map[syscall.Signal]bool{
		0: false, 1: true, syscall.SIGTERM: true, 64: true, 65: false,
		syscall.SIGKILL: false, syscall.SIGSTOP: false,
	} {
		if got := catchable(sig); got != want {
			t.Errorf("catchable(%d) = %v, want %v", sig, got, want)
		}
	}
}

// withDefaults fills in this process's executable and arguments only when
// the Config names none.
func TestWithDefaultsKeepsACommandAndArgumentsGiven(t *testing.T) {
	c := DefaultConfig()
	c.Addr = configTestAddr
	got, err := c.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if got.Command != exe || !slices.Equal(got.Args, os.Args[1:]) {
		t.Errorf("no command given: %q %q, want this executable %q and os.Args[1:]", got.Command, got.Args, exe)
	}
	c.Command, c.Args = "/bin/app", []string{"serve"}
	if got, err = c.withDefaults(); err != nil || got.Command != "/bin/app" || !slices.Equal(got.Args, []string{"serve"}) {
		t.Errorf("command given: %q %q (%v), want it kept", got.Command, got.Args, err)
	}
}
