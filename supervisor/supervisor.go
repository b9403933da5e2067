package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/reuseport"
)

// slot is a worker position that survives its workers: it keeps the
// listening socket, the restart history and the counts of past workers.
type slot struct {
	index int
	// socket is the supervisor's duplicate of the slot's SO_REUSEPORT
	// socket. Holding it keeps the socket's accept queue alive while the
	// slot's worker dies and is replaced; nil until the first worker of
	// the slot bound one.
	socket  *slotSocket
	current *worker // the worker serving the slot, nil while none runs
	next    *worker // a reload's or recycle's replacement, until it is online
	history History
	// restartAt is when the next worker starts; zero when none is due.
	restartAt time.Time
	restarts  int
	lastExit  *Exit
	// scaledDown is set once a scale-down chose the slot: its workers
	// drain, nothing replaces them, and dropScaledDownSlots then drops it.
	scaledDown bool
	past       Counts // counters of the slot's exited workers
	// failedAtStart is set when a worker of the slot failed before the
	// server had any worker online.
	failedAtStart bool
	// queue is what the hang detector knows of the slot's accept queue.
	queue queueWatch
	// recycleRetryAt holds off the next recycle of a slot whose last one
	// failed.
	recycleRetryAt time.Time
	// recentExits are the slot's last exits, newest last.
	recentExits []*Exit
	// looping is set while the slot is in a crash loop that was reported.
	looping bool
	// steer is the slot's standing with the steering program.
	steer quarantine
	// downSince is when the slot's online worker exited with no
	// replacement running; zero while the slot is served. Its next
	// worker's "worker online" reports how long the slot was down.
	downSince time.Time
}

// Exit describes how a worker ended.
type Exit struct {
	Pid    int    `json:"pid"`
	Code   int    `json:"code"`
	Signal string `json:"signal,omitempty"`
	// Reason is one of a fixed set (see exits.go), fit for a metric label.
	Reason string `json:"reason"`
	// Detail says the same for people: the code, the signal, the limit.
	Detail string    `json:"detail"`
	At     time.Time `json:"at"`
	Uptime float64   `json:"uptime_seconds"`
}

// supervisor is the state of a running server. Everything in it belongs to
// the goroutine running loop; other goroutines only send it events.
type supervisor struct {
	cfg    Config
	log    zerolog.Logger
	policy Policy
	now    func() time.Time
	procs  processStarter // starts the workers' processes

	slots   []*slot
	workers map[int]*worker // every worker not yet reaped, by pid
	board   *scoreboard
	events  chan event
	calls   chan func()
	sigs    chan os.Signal

	started    time.Time
	everOnline bool
	ready      bool
	lastError  string // the last worker failure, for the give-up message

	reload   *reloadState
	stopping bool
	err      error
	done     chan struct{} // closed when the loop ends

	reloads    int           // reloads started, for ReloadResult.ID
	lastReload *ReloadResult // nil until a reload has ended

	hooks []hook // control socket, systemd, pidfile

	// notes is the sd_notify socket of exec workers, nil for built-in
	// ones; its reader delivers to noted.
	notes *notifySocket
	noted chan note
	// nextSample is when the slots' accept queues are read next.
	nextSample time.Time
	// nextRecycle is when the recycling limits are checked next; recycling
	// is the slot being recycled, nil when none is; reloadAfterRecycle is
	// a reload asked for meanwhile.
	nextRecycle        time.Time
	recycling          *slot
	reloadAfterRecycle bool
	// exits counts every worker exit by reason.
	exits map[string]uint64
	// oom attributes SIGKILLs to the kernel's OOM killer.
	oom oomCounter
	// steer picks the slot of each new connection; nil when steering is
	// off, and steerOff says why.
	steer          *reuseport.Steering
	steerOff       string
	steerInherited bool // steer came from an upgrade's old supervisor
	// upgrade is an upgrade of this supervisor in progress; handedOver is
	// set once the new one serves and this one only drains. inherited is
	// what an old supervisor handed over to this one, nil when none did.
	upgrade    *upgradeState
	handedOver bool
	inherited  *upgradeSpec
	// upgradeAlive is held open for the successor of an upgrade, which
	// sees EOF when this process is gone.
	upgradeAlive *os.File
	// drain holds a graceful stop back for Config.DrainDelay.
	drain drainDelay
	// flush holds it back, with steering, until the queues are empty.
	flush stopFlush
	// spares is the worker started in advance (spare.go).
	spares spareKeeper
}

// hook is an optional part of the supervisor with a lifecycle of its own.
type hook interface {
	// ready is called once, when every first-generation worker is online.
	ready(s *supervisor) error
	// workersChanged is called after the set of online workers changed, or a
	// reload started or ended.
	workersChanged(s *supervisor)
	// stopping is called once, when the server starts to stop.
	stopping(s *supervisor)
	// close releases the hook's resources; it runs last.
	close()
}

// Run runs a supervisor: it starts cfg.Workers workers, keeps each slot
// served until asked to stop, and returns once every worker has exited.
//
// Signals: TERM and INT (or ctx done) stop gracefully, a second INT stops
// at once; QUIT is the fast stop, which SIGKILLs every worker at once; HUP
// reloads, one slot at a time; TTIN adds a worker and TTOU retires the
// highest slot; USR1 is passed on to built-in workers, which reopen their
// access logs; USR2 upgrades the supervisor itself.
//
// Run returns an error when the server cannot start (no worker of the
// first generation came online), when every slot keeps failing, or when a
// forced stop cut drains short or QUIT killed workers that held client
// connections. The error is one line, fit for a user.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	inherited, err := inheritedSpec()
	if err != nil {
		return err
	}
	// The new supervisor of an upgrade shares the port with the old one,
	// on the very same sockets.
	if !cfg.AllowSharedPort && inherited == nil {
		holders, err := reuseport.Holders(cfg.Addr, os.Getpid())
		if err != nil {
			return err
		}
		if len(holders) > 0 {
			return fmt.Errorf("address %s is already served by %s; stop it, or pass --allow-shared-port to share the port", cfg.Addr, holders[0])
		}
	}
	// The /proc scan above can read tens of thousands of sockets on a busy
	// host; hand that garbage back to the kernel now rather than let the
	// supervisor sit on it for its whole life.
	debug.FreeOSMemory()
	leanRuntime()
	board, err := newScoreboard(4*cfg.MaxWorkers + 8)
	if err != nil {
		return err
	}
	s := newSupervisor(cfg, board)
	defer s.board.close()
	signal.Notify(s.sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT,
		syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(s.sigs)

	if cfg.execMode() {
		if s.notes, err = openNotifySocket(); err != nil {
			return err
		}
		defer s.notes.close()
		s.noted = make(chan note, 64)
		go s.notes.read(func(n note) {
			select {
			case s.noted <- n:
			case <-s.done:
			}
		})
	}

	s.inherited = inherited
	s.started = s.now()
	s.log.Info().Int("pid", os.Getpid()).Str("addr", cfg.Addr).Int("workers", cfg.Workers).
		Str("command", s.commandLine()).Msg("supervisor started")
	if err := s.openHooks(); err != nil {
		return err
	}
	defer s.closeHooks()
	if err := s.openSteering(); err != nil {
		return err
	}
	defer func() { s.steer.Close() }()
	if s.steer == nil || !s.steer.Migrates() {
		s.warnMigrateReq()
	}
	if inherited != nil {
		for _, is := range inherited.Slots {
			sl := &slot{index: is.Index, socket: &slotSocket{fd: is.FD}}
			s.slots = append(s.slots, sl)
			s.steerSocket(sl)
		}
	} else {
		for i := range cfg.Workers {
			s.slots = append(s.slots, &slot{index: i})
		}
	}
	s.watchPredecessor()
	for _, sl := range s.slots {
		s.startWorker(sl)
	}
	return s.loop(ctx)
}

// newSupervisor is the state of a server about to start, with cfg's
// defaults applied, its workers started as child processes sharing board.
func newSupervisor(cfg Config, board *scoreboard) *supervisor {
	return &supervisor{
		cfg:     cfg,
		log:     cfg.Log,
		policy:  cfg.policy(),
		now:     time.Now,
		procs:   &osStarter{command: cfg.Command, args: cfg.Args, board: board.file, log: cfg.Log, name: cfg.workerName, credential: cfg.Credential},
		workers: map[int]*worker{},
		exits:   map[string]uint64{},
		oom:     newOOMCounter(),
		board:   board,
		events:  make(chan event, 64),
		calls:   make(chan func()),
		sigs:    make(chan os.Signal, 8),
		done:    make(chan struct{}),
	}
}

// warnMigrateReq logs once when the kernel will reset the queue of a
// socket that is finally closed (scale-down, shutdown), instead of moving
// its connections to another socket of the group.
func (s *supervisor) warnMigrateReq() {
	on, err := reuseport.MigrateReqEnabled()
	switch {
	case err != nil:
		s.log.Warn().Err(err).Msg("cannot read net.ipv4.tcp_migrate_req (Linux < 5.14?): connections queued on a retired slot are reset")
	case !on:
		s.log.Warn().Str("fix", "sysctl -w net.ipv4.tcp_migrate_req=1").
			Msg("net.ipv4.tcp_migrate_req is 0: connections queued on a retired slot's socket are reset on scale-down and shutdown")
	}
}

// maxWait bounds the loop's sleep when no deadline is near, so that a
// missed computation can never stall it for long.
const maxWait = 5 * time.Second

// loop is the supervisor's one goroutine: it owns every field of s and
// handles one thing per turn, a worker's event (handle), a signal
// (onSignal), a call from the control socket (call), an sd_notify datagram
// (onNote), ctx's end, or its timer (onTick). It returns s.err once a stop
// has seen the last worker exit.
func (s *supervisor) loop(ctx context.Context) error {
	defer close(s.done)
	// One timer, set to the nearest deadline (a restart, a heartbeat, a
	// kill), instead of a ticker: an idle supervisor wakes only for its
	// workers' heartbeats.
	t := time.NewTimer(0)
	defer t.Stop()
	ctxDone := ctx.Done()
	var pause pauseClock // see pause.go
	for {
		select {
		case ev := <-s.events:
			s.handle(ev)
		case sig := <-s.sigs:
			s.onSignal(sig.(syscall.Signal))
		case fn := <-s.calls:
			fn()
		case n := <-s.noted:
			s.onNote(n)
		case <-ctxDone:
			ctxDone = nil
			s.stop("context done", false)
		case <-t.C:
			pause.resume(s)
			s.onTick()
		}
		if s.settled() {
			return s.err
		}
		t.Reset(pause.sleep(s, max(time.Millisecond, min(maxWait, s.nextDeadline().Sub(s.now())))))
	}
}

// settled runs after every turn of the loop: it brings the steering
// program up to date and reports whether the server has ended, a stop
// whose last worker is gone.
func (s *supervisor) settled() bool {
	s.updateSteering()
	if !s.stopping || len(s.workers) > 0 || s.spares.w != nil {
		return false
	}
	s.closeSlots()
	if s.err == nil {
		s.log.Info().Msg("supervisor stopped")
	}
	return true
}

// call runs fn in the loop and waits for it; false if the loop has ended.
func (s *supervisor) call(fn func()) bool {
	done := make(chan struct{})
	select {
	case s.calls <- func() { fn(); close(done) }:
		<-done
		return true
	case <-s.done:
		return false
	}
}

// onSignal handles one signal to the supervisor; Run's doc lists them.
func (s *supervisor) onSignal(sig syscall.Signal) {
	s.log.Info().Str("signal", unixSignalName(sig)).Msg("signal received")
	if s.cutDrainDelay(sig) {
		return
	}
	switch sig {
	case syscall.SIGTERM:
		s.stop("SIGTERM", false)
	case syscall.SIGINT:
		// The first INT drains like TERM; a second one means "now".
		s.stop("SIGINT", s.stopping)
	case syscall.SIGQUIT:
		s.stop("SIGQUIT", true)
	case syscall.SIGHUP:
		s.startReload()
	case syscall.SIGTTIN:
		s.scaleTo(s.activeSlots() + 1)
	case syscall.SIGTTOU:
		s.scaleTo(s.activeSlots() - 1)
	case syscall.SIGUSR2:
		// nginx's and gunicorn's signal to upgrade the master.
		s.startUpgrade(make(chan UpgradeResult, 1))
	case syscall.SIGUSR1:
		s.reopenLogs()
	}
}

// startWorker starts sl's worker, or schedules a retry when it cannot.
func (s *supervisor) startWorker(sl *slot) {
	sl.restartAt = time.Time{}
	if s.takeSpare(sl) {
		return
	}
	w, err := s.spawn(sl)
	if err != nil {
		s.lastError = err.Error()
		s.log.Error().Err(err).Int("slot", sl.index).Msg("worker not started")
		// A fork that fails counts as a worker that died at once, so the
		// backoff and give-up rules hold for it too.
		s.restartOrGiveUp(sl, false, 0)
		return
	}
	sl.current = w
}

// handle applies one event of a worker: a message on its channel, or its
// exit (onExit).
func (s *supervisor) handle(ev event) {
	w := ev.w
	if w == s.spares.w {
		s.onSpareEvent(ev)
		return
	}
	if ev.exit != nil {
		s.onExit(w, *ev.exit)
		return
	}
	switch ev.msg.word {
	case msgBeat:
		w.lastBeat = s.now()
	case msgFail:
		w.failure = ev.msg.arg
		s.lastError = ev.msg.arg
		s.log.Error().Int("slot", w.slot.index).Int("pid", w.pid).Str("reason", ev.msg.arg).Msg("worker failed to start")
	case msgReady:
		s.adoptSocket(w.slot, ev.msg.fd)
		s.onOnline(w)
	case msgSocket:
		s.adoptSocket(w.slot, ev.msg.fd)
	case msgVersion:
		w.version = ev.msg.arg
	case msgExec:
		w.execd = true
		s.log.Debug().Int("slot", w.slot.index).Int("pid", w.pid).Str("path", ev.msg.arg).Msg("worker running the command")
	default:
		s.log.Warn().Int("pid", w.pid).Str("message", ev.msg.word).Msg("unknown worker message")
	}
}

// adoptSocket keeps fd, a listening socket a worker of sl bound, as the
// slot's socket; -1 is a no-op.
func (s *supervisor) adoptSocket(sl *slot, fd int) {
	if fd < 0 {
		return
	}
	if sl.socket == nil {
		sl.socket = &slotSocket{fd: fd}
		s.steerSocket(sl)
		return
	}
	// Two workers of one slot bound before either reported (a reload of a
	// slot whose first worker never came online): keep the first socket.
	unix.Close(fd)
}

// onOnline brings starting worker w online: it hands w's slot over when w
// is a reload's or recycle's replacement, and declares the server ready
// when w completes the first generation.
func (s *supervisor) onOnline(w *worker) {
	if w.state != stateStarting {
		return
	}
	sl := w.slot
	w.state, w.onlineAt, w.lastBeat = stateOnline, s.now(), s.now()
	s.everOnline = true
	ev := s.log.Info().Int("slot", sl.index).Int("pid", w.pid).Dur("after_ms", s.now().Sub(w.started))
	if sl.current == w && !sl.downSince.IsZero() {
		// From the death of the slot's last online worker to now: how long
		// the slot's queued connections waited for a worker.
		ev = ev.Dur("down_ms", s.now().Sub(sl.downSince))
		sl.downSince = time.Time{}
	}
	ev.Msg("worker online")
	s.spareOnline(w)
	if sl.next == w {
		s.reloadStepDone(w)
	}
	if !s.ready && !s.stopping && s.onlineCount() == s.activeSlots() {
		s.ready = true
		s.log.Info().Int("workers", s.onlineCount()).Dur("after_ms", s.now().Sub(s.started)).Msg("server ready")
		for _, h := range s.hooks {
			if err := h.ready(s); err != nil {
				// A promise made at start (the pidfile) that cannot be
				// kept ends the server rather than leave it half set up.
				s.fail(err)
				return
			}
		}
		s.tellPredecessor()
	}
	s.notifyHooks()
}

// notifyHooks tells every hook that the set of online workers changed, or
// a reload started or ended.
func (s *supervisor) notifyHooks() {
	for _, h := range s.hooks {
		h.workersChanged(s)
	}
}

// onExit accounts for w's end (its counts, the exit's reason, the log
// line), then decides what follows: a failed reload or recycle step, the
// slot's restart, or nothing for a worker already replaced or stopped.
func (s *supervisor) onExit(w *worker, end exitStatus) {
	delete(s.workers, w.pid)
	w.end = end
	sl := w.slot
	sl.past = sl.past.Add(s.board.read(w.board))
	s.board.release(w.board)

	code, sig := end.code, end.signal
	uptime := s.now().Sub(w.started)
	exit := s.explainExit(w, code, sig)
	s.exits[exit.Reason]++
	sl.recentExits = append(sl.recentExits, exit)
	if len(sl.recentExits) > recentExitsKept {
		sl.recentExits = sl.recentExits[1:]
	}
	if uptime >= s.cfg.MinUptime {
		sl.looping = false
	}
	ev := s.log.Info()
	if w.reason == "" && !s.stopping {
		// An exit nobody asked for is a warning, but a crash loop gets
		// one warning of its own (see replace), not one per death: this
		// death starts a loop when the slot's last worker died young too.
		startsLoop := uptime < s.cfg.MinUptime && sl.history.YoungDeaths >= 1
		if !sl.looping && !startsLoop {
			ev = s.log.Warn()
		}
		switch {
		case w.failure != "":
		case w.exec && !w.cameOnline():
			s.lastError = fmt.Sprintf("%s exited before coming online (%s)", s.cfg.Exec[0], describeExit(code, sig))
		default:
			s.lastError = fmt.Sprintf("worker %d %s", w.pid, exit.Detail)
		}
	}
	ev.Int("slot", sl.index).Int("pid", w.pid).Int("code", code).Str("signal", sig).
		Dur("uptime_ms", uptime).Str("reason", exit.Reason).Str("detail", exit.Detail).Msg("worker exited")

	switch {
	case sl.next == w && s.recycling == sl:
		sl.next = nil
		s.recycleFailed(sl, w)
	case sl.next == w:
		sl.next = nil
		s.reloadFailed(sl, w)
	case sl.current == w:
		sl.current = nil
		sl.lastExit = exit
		if w.cameOnline() {
			sl.downSince = s.now()
		}
		s.restartOrGiveUp(sl, w.cameOnline(), uptime)
	default:
		// An old worker of a reload, a retired one, or a hung one already
		// replaced: nothing replaces it.
		if w.reason != reasonReloaded {
			sl.lastExit = exit
		}
	}
	s.dropScaledDownSlots()
	s.notifyHooks()
}

// restartOrGiveUp decides what follows the end of sl's current worker,
// which ran for uptime and came online or not: it schedules the slot's
// next worker after the policy's backoff, or ends the server when no
// worker came online at all or every slot keeps failing.
func (s *supervisor) restartOrGiveUp(sl *slot, wasOnline bool, uptime time.Duration) {
	if s.stopping || sl.scaledDown {
		return
	}
	if sl.next != nil {
		// A reload is bringing up this slot's replacement already.
		return
	}
	if !wasOnline && !s.everOnline {
		sl.failedAtStart = true
	}
	delay := s.policy.Exited(&sl.history, uptime)
	if delay > 0 && !s.policy.Failing(sl.history) && sl.queueLen() > 0 {
		// Connections wait in the slot's queue: a backoff would make
		// their users wait out a restart they cannot see. The backoff
		// still paces a crash loop once the slot counts as failing, and
		// any loop whose queue is empty.
		s.log.Info().Int("slot", sl.index).Dur("backoff_skipped_ms", delay).Msg("connections queued: replacing at once")
		delay = 0
	}
	if sl.history.YoungDeaths >= 2 && !sl.looping {
		sl.looping = true
		s.log.Warn().Int("slot", sl.index).Int("young_deaths", sl.history.YoungDeaths).Str("last_exit", s.lastError).
			Dur("next_restart_in_ms", delay).Msg("slot in a crash loop: restarting with backoff; its further exits are logged at info")
	}
	if !s.everOnline && s.slotsFailedAtStart() == len(s.slots) {
		s.fail(fmt.Errorf("no worker came online: %s", s.lastError))
		return
	}
	if s.policy.GiveUp(s.histories(), s.onlineCount()) {
		s.fail(fmt.Errorf("every worker keeps dying young (%d times in a row): last error: %s", s.cfg.MaxRestarts, s.lastError))
		return
	}
	s.scheduleRestart(sl, delay)
}

// queueLen is the length of sl's accept queue, -1 while the slot has no
// socket or the length cannot be read.
func (sl *slot) queueLen() int {
	if sl.socket == nil {
		return -1
	}
	n, err := sl.socket.queueLen()
	if err != nil {
		return -1
	}
	return n
}

// scheduleRestart has onTick start sl's next worker after delay.
func (s *supervisor) scheduleRestart(sl *slot, delay time.Duration) {
	sl.restarts++
	if delay <= 0 && s.takeSpare(sl) {
		return
	}
	sl.restartAt = s.now().Add(delay)
	s.log.Info().Int("slot", sl.index).Dur("delay_ms", delay).Msg("replacement scheduled")
}

// fail stops the server with err, at once: its workers are failing anyway.
func (s *supervisor) fail(err error) {
	if s.err == nil {
		s.err = err
	}
	s.stop("failure", true)
}

// slotsFailedAtStart counts the slots whose worker failed before any
// worker of the server came online.
func (s *supervisor) slotsFailedAtStart() int {
	n := 0
	for _, sl := range s.slots {
		if sl.failedAtStart {
			n++
		}
	}
	return n
}

// histories are the restart records of the slots not scaled down.
func (s *supervisor) histories() []History {
	hs := make([]History, 0, len(s.slots))
	for _, sl := range s.slots {
		if !sl.scaledDown {
			hs = append(hs, sl.history)
		}
	}
	return hs
}

// onlineCount counts the slots whose current worker came online.
func (s *supervisor) onlineCount() int {
	n := 0
	for _, sl := range s.slots {
		if sl.current != nil && sl.current.cameOnline() {
			n++
		}
	}
	return n
}

// activeSlots counts the slots not scaled down.
func (s *supervisor) activeSlots() int {
	n := 0
	for _, sl := range s.slots {
		if !sl.scaledDown {
			n++
		}
	}
	return n
}

// onTick runs when the loop's timer fires: it starts the restarts that
// are due, acts on the workers' deadlines (watch), reads the accept queues,
// checks recycling limits and an upgrade's deadline, and ticks the hooks.
func (s *supervisor) onTick() {
	now := s.now()
	for _, sl := range s.slots {
		if !s.stopping && !sl.scaledDown && sl.current == nil && !sl.restartAt.IsZero() && !now.Before(sl.restartAt) {
			s.startWorker(sl)
		}
	}
	for _, w := range s.workers {
		s.watch(w, now)
	}
	if !now.Before(s.nextSample) {
		s.sampleQueues(now)
	}
	if s.cfg.recycles() && !now.Before(s.nextRecycle) {
		s.checkRecycle(now)
	}
	s.checkUpgrade(now)
	s.tendSpare(now)
	for _, h := range s.hooks {
		if t, ok := h.(ticker); ok {
			t.tick(s)
		}
	}
}

// ticker is a hook with deadlines of its own.
type ticker interface {
	tick(s *supervisor)
	deadline(s *supervisor) time.Time
}

// nextDeadline is the earliest time at which onTick has something to do:
// a slot's restart, a worker's deadline, a queue reading, a recycling
// check, an upgrade's or a hook's deadline.
func (s *supervisor) nextDeadline() time.Time {
	next := s.now().Add(maxWait)
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	for _, sl := range s.slots {
		if !s.stopping && !sl.scaledDown && sl.current == nil {
			earlier(sl.restartAt)
		}
	}
	for _, w := range s.workers {
		earlier(s.deadline(w))
	}
	if s.cfg.WorkerTimeout > 0 || s.steer != nil {
		earlier(s.nextSample)
	}
	if s.cfg.recycles() {
		earlier(s.nextRecycle)
	}
	if s.upgrade != nil && !s.upgrade.done {
		earlier(s.upgrade.deadline)
	}
	earlier(s.spareDeadline())
	for _, h := range s.hooks {
		if t, ok := h.(ticker); ok {
			earlier(t.deadline(s))
		}
	}
	return next
}

// watch acts on w once its deadline has come (see deadline): it kills a
// draining or hung worker, brings online an exec worker that ran for the
// ready delay, kills one not online within the start timeout, and finds an
// online one hung that missed its heartbeats.
func (s *supervisor) watch(w *worker, now time.Time) {
	if d := s.deadline(w); d.IsZero() || now.Before(d) {
		return
	}
	switch w.state {
	case stateDraining, stateHung:
		s.log.Warn().Int("slot", w.slot.index).Int("pid", w.pid).Str("reason", w.reason).Msg("worker killed: deadline passed")
		s.kill(w)
	case stateStarting:
		if s.readyAfterDelay(w) && now.Sub(w.started) >= s.cfg.ReadyDelay {
			s.onOnline(w)
			return
		}
		w.reason = reasonStartTimeout
		w.failure = fmt.Sprintf("not online after %s", s.cfg.StartTimeout)
		if w.exec && s.cfg.Ready == ReadyNotify {
			w.failure = fmt.Sprintf("%s sent no READY=1 to $NOTIFY_SOCKET within the start timeout (%s); use --ready=start for a program that does not notify", s.cfg.Exec[0], s.cfg.StartTimeout)
		}
		s.lastError = w.failure
		s.log.Error().Int("slot", w.slot.index).Int("pid", w.pid).Dur("timeout_ms", s.cfg.StartTimeout).Msg("worker did not come online")
		s.kill(w)
	case stateOnline:
		s.markHung(w, now, s.log.Error().Dur("silent_ms", now.Sub(w.lastBeat)), "worker hung: no heartbeat")
	}
}

// kill SIGKILLs w; only its exit is awaited from then on.
func (s *supervisor) kill(w *worker) {
	w.state = stateKilled
	w.signal(syscall.SIGKILL)
}

// readyAfterDelay reports whether w comes online by having run for the
// ready delay: an exec worker under --ready=start, once it runs the command.
func (s *supervisor) readyAfterDelay(w *worker) bool {
	return w.exec && s.cfg.Ready == ReadyStart && w.execd && w.state == stateStarting
}

// markHung sends w the hang signal, sets its kill deadline and starts its
// replacement at once. With the default SIGQUIT a Go worker writes every
// goroutine's stack to its stderr (our log) and drains briefly (the
// built-in worker catches it; a Go program of the user's dumps and exits
// by Go's default). A SIGSTOPped process only takes a signal once
// continued, hence the SIGCONT. ev carries the log fields of the cause.
func (s *supervisor) markHung(w *worker, now time.Time, ev *zerolog.Event, msg string) {
	ev.Int("slot", w.slot.index).Int("pid", w.pid).Str("signal", unixSignalName(s.cfg.HangSignal)).Msg(msg)
	w.state, w.reason = stateHung, reasonHung
	w.killAt = now.Add(hungGrace)
	w.signal(s.cfg.HangSignal)
	w.signal(syscall.SIGCONT)
	s.replaceHung(w)
}

// replaceHung starts the replacement of a hung worker at once, instead of
// after its SIGKILL: the new worker inherits the slot's socket and serves
// the connections queued there while the hung one dumps and dies.
func (s *supervisor) replaceHung(w *worker) {
	sl := w.slot
	if sl.current != w || s.stopping || sl.scaledDown {
		return
	}
	sl.current = nil
	sl.restarts++
	s.log.Info().Int("slot", sl.index).Int("hung_pid", w.pid).Msg("replacement scheduled")
	s.startWorker(sl)
}

// stop begins the end of the server. A graceful stop SIGTERMs every
// worker and SIGKILLs stragglers after the graceful timeout; a forced one
// SIGKILLs at once.
func (s *supervisor) stop(why string, force bool) {
	s.retireSpare()
	if force {
		if s.err == nil {
			s.err = s.forcedStopError(why)
		}
		for _, w := range s.workers {
			s.kill(w)
			w.signal(syscall.SIGCONT)
		}
	}
	if s.stopping {
		return
	}
	s.stopping = true
	s.reload = nil
	s.log.Info().Str("cause", why).Bool("force", force).Int("workers", len(s.workers)).Msg("supervisor stopping")
	for _, h := range s.hooks {
		h.stopping(s)
	}
	if force || s.holdStop() || s.flushBeforeRetiring() {
		return
	}
	for _, w := range s.workers {
		s.stopWorker(w, reasonStopped)
	}
}

// stopWorker asks w to drain and exit, and sets its kill deadline. A hung or
// killed worker keeps its state, and its deadline when it has one.
func (s *supervisor) stopWorker(w *worker, reason string) {
	if w.state == stateStarting || w.state == stateOnline {
		w.state = stateDraining
	}
	if w.reason == "" {
		w.reason = reason
	}
	if w.killAt.IsZero() {
		w.killAt = s.now().Add(s.cfg.GracefulTimeout + time.Second)
	}
	sig := syscall.SIGTERM
	if w.exec {
		sig = s.cfg.StopSignal
	}
	w.signal(sig)
	// A stopped worker cannot drain until it is continued.
	w.signal(syscall.SIGCONT)
}

// closeSlots drops the supervisor's socket duplicates once no worker
// serves them: the kernel closes each socket, resetting what is still
// queued (unless net.ipv4.tcp_migrate_req moves it within the group).
func (s *supervisor) closeSlots() {
	for _, sl := range s.slots {
		sl.socket.close()
		sl.socket = nil
	}
}

// commandLine is what the workers run, for logs and status.
func (s *supervisor) commandLine() string {
	if s.cfg.execMode() {
		return strings.Join(s.cfg.Exec, " ")
	}
	return s.cfg.Command
}

// describeExit says how a process ended, for people.
func describeExit(code int, sig string) string {
	if sig != "" {
		return "killed by " + sig
	}
	return fmt.Sprintf("exit code %d", code)
}
