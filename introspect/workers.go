package introspect

import "time"

// workerIdle is how long a worker waits for another flight before it ends.
const workerIdle = 30 * time.Second

// workers run flights on goroutines that outlive them: a flight's goroutine
// grows its stack to the depth of an HTTP client call, and a new goroutine
// per flight would grow one from scratch every time, which showed as a
// tenth of a miss's CPU. Idle workers wait for the next flight and end
// after workerIdle, or when the cache closes.
type workers struct {
	jobs chan func()   // hands a flight to an idle worker
	quit chan struct{} // closed by Cache.Close
}

func newWorkers() workers {
	return workers{jobs: make(chan func()), quit: make(chan struct{})}
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
		idle.Reset(workerIdle)
		select {
		case job = <-w.jobs:
		case <-idle.C:
			return
		case <-w.quit:
			return
		}
	}
}

// stop makes idle workers end, and busy ones when their flight lands.
func (w workers) stop() { close(w.quit) }
