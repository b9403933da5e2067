package supervisor

import (
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// leaving is set in a worker once its supervisor has said that the server
// is about to stop (SIGUSR2 at the start of a drain delay).
var leaving atomic.Bool

var catchLeavingOnce sync.Once

// Leaving reports whether this worker's supervisor has said that the
// server is leaving: a stop has begun and the workers will be told to drain
// once --drain-delay has passed. A server should fail its health check
// from then on, and serve everything else as before. It stays true for the
// life of the process; it is always false outside ServeWorker.
func Leaving() bool { return leaving.Load() }

// catchLeaving makes SIGUSR2 set leaving, for the rest of the process's
// life: a SIGUSR2 arriving after ServeWorker returned must not kill a
// worker that is finishing its exit.
func catchLeaving() {
	catchLeavingOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR2)
		go func() {
			for range ch {
				leaving.Store(true)
			}
		}()
	})
}
