package supervisor

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/spreadhttp/spread/reuseport"
)

// steerSupervisor is a bare supervisor for openSteering, which closes its
// program at the end of the test.
func steerSupervisor(t *testing.T, cfg Config) *supervisor {
	t.Helper()
	s := &supervisor{cfg: cfg, log: zerolog.New(zerolog.NewTestWriter(t))}
	t.Cleanup(func() { s.steer.Close() })
	return s
}

// needSteering skips the test where this kernel or user cannot load the
// steering program.
func needSteering(t *testing.T) {
	t.Helper()
	st, err := reuseport.NewSteering(8)
	if err != nil {
		t.Skipf("no steering here: %v", err)
	}
	st.Close()
}

func TestSteerOffLoadsNoProgram(t *testing.T) {
	s := steerSupervisor(t, Config{Steer: SteerOff, MaxWorkers: 2})
	if err := s.openSteering(); err != nil {
		t.Fatal(err)
	}
	if s.steer != nil || s.steeringState() != "off: --steer=off" {
		t.Fatalf("steering %q with --steer=off", s.steeringState())
	}
}

func TestAnUpgradeThatHandsOverNoSteeringLeavesItToTheNewSupervisor(t *testing.T) {
	needSteering(t)
	s := steerSupervisor(t, Config{Steer: SteerOn, MaxWorkers: 2})
	s.inherited = &upgradeSpec{Ready: -1, Alive: -1, Control: -1, Metrics: -1}
	if err := s.openSteering(); err != nil {
		t.Fatalf("--steer=on after an upgrade that handed over no steering: %v", err)
	}
	if s.steer == nil || s.steerInherited {
		t.Fatalf("steering %q, inherited %v; want a program of its own", s.steeringState(), s.steerInherited)
	}
}

// TestSteeringHasAKeyForEverySlotIndex checks the program's map is sized
// as the scoreboard is: 4 x --max-workers + 8 slot indices.
func TestSteeringHasAKeyForEverySlotIndex(t *testing.T) {
	needSteering(t)
	s := steerSupervisor(t, Config{Steer: SteerOn, MaxWorkers: 2})
	if err := s.openSteering(); err != nil {
		t.Fatal(err)
	}
	ln, err := reuseport.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := reuseport.File(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.steer.Add(4*2+7, int(f.Fd())); err != nil {
		t.Fatalf("slot index 15 under --max-workers 2: %v", err)
	}
}

func TestOnlyTheSupervisorThatServesWritesTheSteeringMap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		inherited  *upgradeSpec
		handedOver bool
		want       bool
	}{
		{"no upgrade", nil, false, true},
		{"new supervisor, not ready yet", &upgradeSpec{Ready: 3}, false, false},
		{"new supervisor, ready", &upgradeSpec{Ready: -1}, false, true},
		{"old supervisor, handed over", nil, true, false},
	} {
		s := &supervisor{inherited: tc.inherited, handedOver: tc.handedOver}
		if got := s.ownsSteering(); got != tc.want {
			t.Errorf("%s: ownsSteering = %v, want %v", tc.name, got, tc.want)
		}
	}
}
