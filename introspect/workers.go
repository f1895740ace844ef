package introspect

import (
	"sync/atomic"
	"time"
)

// workerIdle is how long an idle worker waits for another flight before it
// ends, and maxIdleWorkers how many may wait at once; a worker that finds
// that many idle ends at once. Together they keep the workers a steady
// stream of misses uses, and let the goroutines a burst started end as soon
// as their calls do, but for a few that end within workerIdle.
const (
	workerIdle     = time.Second
	maxIdleWorkers = 8
)

// workers run flights on goroutines that outlive them: a flight's goroutine
// grows its stack to the depth of an HTTP client call, and a new goroutine
// per flight would grow one from scratch every time, which showed as a
// tenth of a miss's CPU. Idle workers wait for the next flight and end
// after workerIdle, or when the cache closes.
type workers struct {
	jobs chan func()   // hands a flight to an idle worker
	quit chan struct{} // closed by Cache.Close
	idle *atomic.Int64 // workers waiting for a flight
}

func newWorkers() workers {
	return workers{jobs: make(chan func()), quit: make(chan struct{}), idle: new(atomic.Int64)}
}

// run runs job on an idle worker, or on a new one when none is idle.
func (w workers) run(job func()) {
	select {
	case w.jobs <- job:
	default:
		go w.work(job)
	}
}

func (w workers) work(job func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		job()
		if w.idle.Add(1) > maxIdleWorkers {
			w.idle.Add(-1)
			return
		}
		idle.Reset(workerIdle)
		select {
		case job = <-w.jobs:
			w.idle.Add(-1)
		case <-idle.C:
			w.idle.Add(-1)
			return
		case <-w.quit:
			w.idle.Add(-1)
			return
		}
	}
}

// stop makes idle workers end, and busy ones when their flight lands.
func (w workers) stop() { close(w.quit) }
