package otelhook

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// A series is the count of one series of an observable instrument: the
// hooks add to n, and the Telemetry's callback observes n under opts, the
// series' attribute set, built once.
type series struct {
	n    atomic.Int64
	opts []metric.ObserveOption
}

// newSeries returns a series at zero under the attribute set s.
func newSeries(s attribute.Set) *series {
	return &series{opts: []metric.ObserveOption{metric.WithAttributeSet(s)}}
}

// cacheLine is what a hot series is padded to on each side: 128 bytes,
// two of amd64's lines (whose prefetcher fetches them in pairs) and one
// of the largest arm64 ones.
const cacheLine = 128

// A hotSeries is a series that no other field written to shares a cache
// line with: the hooks of every parallel cache hit add to it, and a
// neighbour written to by another core would make each of them wait for
// the line.
type hotSeries struct {
	_ [cacheLine]byte
	series
	_ [cacheLine]byte
}

// A family is the series of one observable instrument, by a key of their
// attribute values. New makes the series of the known values (listed in
// the package doc), which are exported from the start; the hooks make one
// for any other value as they first meet it (an Outcome added to
// introspect after this package, say), and it is exported from then on.
type family[K comparable] struct {
	inst  metric.Int64Observable
	attrs func(K) attribute.Set

	// known holds the series made by New and all lists them, in order,
	// for the callback; neither changes after New, so the hooks read
	// known without a lock.
	known map[K]*series
	all   []*series

	mu    sync.Mutex
	other map[K]*series // guarded by mu
}

// newFamily returns the family of inst, with a series for each of keys
// (the one of hot, if any, for the key it is given as).
func newFamily[K comparable](inst metric.Int64Observable, attrs func(K) attribute.Set, keys []K, hot map[K]*series) *family[K] {
	f := &family[K]{inst: inst, attrs: attrs, known: make(map[K]*series, len(keys))}
	for _, k := range keys {
		s := hot[k]
		if s == nil {
			s = newSeries(attrs(k))
		} else {
			s.opts = []metric.ObserveOption{metric.WithAttributeSet(attrs(k))}
		}
		f.known[k] = s
		f.all = append(f.all, s)
	}
	return f
}

// add adds n to the series of k.
func (f *family[K]) add(k K, n int64) {
	s := f.known[k]
	if s == nil {
		s = f.unlisted(k)
	}
	s.n.Add(n)
}

// unlisted returns the series of k, a key New made none for, making it
// at the first call.
func (f *family[K]) unlisted(k K) *series {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.other[k]
	if s == nil {
		if f.other == nil {
			f.other = make(map[K]*series)
		}
		s = newSeries(f.attrs(k))
		f.other[k] = s
	}
	return s
}

// observe observes every series of f.
func (f *family[K]) observe(o metric.Observer) {
	for _, s := range f.all {
		o.ObserveInt64(f.inst, s.n.Load(), s.opts...)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.other {
		o.ObserveInt64(f.inst, s.n.Load(), s.opts...)
	}
}
