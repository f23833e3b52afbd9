package cachex_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
)

func newGate(t *testing.T, c cachex.Cache, cfg cachex.BreakerConfig, clock cachex.Clock) *cachex.SystemGate {
	t.Helper()
	g, err := cachex.NewSystemGate(c, cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// gatePair returns two gates that are two instances: on two Redis clients
// sharing a namespace when shared, else on two separate local caches.
func gatePair(t *testing.T, shared bool, cfg cachex.BreakerConfig, clock cachex.Clock) (a, b *cachex.SystemGate) {
	t.Helper()
	if shared {
		url := redisURL(t)
		ns := namespace(t, url)
		return newGate(t, newRedis(t, url, ns), cfg, clock), newGate(t, newRedis(t, url, ns), cfg, clock)
	}
	return newGate(t, newLocal(t, cachex.LocalConfig{}), cfg, clock), newGate(t, newLocal(t, cachex.LocalConfig{}), cfg, clock)
}

func TestSystemGatePauseSharedThroughRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	a, b := gatePair(t, true, cachex.BreakerConfig{}, clock)
	until := clock.Now().Add(time.Minute)
	if err := a.Pause(ctx, "payments-api", until); err != nil {
		t.Fatal(err)
	}
	if got, ok := b.PausedUntil(ctx, "payments-api"); !ok || !got.Equal(until) {
		t.Fatalf("other instance PausedUntil = %v, %v; want %v", got, ok, until)
	}
	if b.Allow(ctx, "payments-api") {
		t.Fatal("other instance allowed a call to a paused system")
	}
	if !b.Allow(ctx, "search-api") {
		t.Fatal("a pause of one system held back another")
	}
	// An earlier pause does not shorten it; a later one extends it.
	if err := b.Pause(ctx, "payments-api", until.Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.PausedUntil(ctx, "payments-api"); !got.Equal(until) {
		t.Fatalf("PausedUntil after an earlier pause = %v; want %v kept", got, until)
	}
	later := until.Add(time.Minute)
	if err := b.Pause(ctx, "payments-api", later); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.PausedUntil(ctx, "payments-api"); !got.Equal(later) {
		t.Fatalf("PausedUntil after a later pause = %v; want %v", got, later)
	}
	clock.Advance(2*time.Minute + time.Second)
	if _, ok := a.PausedUntil(ctx, "payments-api"); ok {
		t.Fatal("pause still in force after it ended")
	}
	if !a.Allow(ctx, "payments-api") {
		t.Fatal("call refused after the pause ended")
	}
}

func TestSystemGatePauseNotSharedBetweenLocalCaches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	a, b := gatePair(t, false, cachex.BreakerConfig{}, clock)
	if err := a.Pause(ctx, "api", clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.PausedUntil(ctx, "api"); !ok {
		t.Fatal("the pausing instance does not see its own pause")
	}
	if _, ok := b.PausedUntil(ctx, "api"); ok {
		t.Fatal("a pause crossed between two local caches")
	}
	if !b.Allow(ctx, "api") || a.Allow(ctx, "api") {
		t.Fatal("Allow: want only the pausing instance held back")
	}
}

// Concurrent pauses keep the latest end, whatever the order of the writes.
func TestSystemGateConcurrentPausesKeepLatest(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "redis"}[shared]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := newFakeClock()
			a, b := gatePair(t, shared, cachex.BreakerConfig{}, clock)
			base := clock.Now()
			var wg sync.WaitGroup
			for i := range 40 {
				g := a
				if shared && i%2 == 1 {
					g = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := g.Pause(ctx, "api", base.Add(time.Duration(i+1)*time.Second)); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if got, ok := a.PausedUntil(ctx, "api"); !ok || !got.Equal(base.Add(40*time.Second)) {
				t.Fatalf("PausedUntil = %v, %v; want the latest, %v", got, ok, base.Add(40*time.Second))
			}
		})
	}
}

func TestSystemGateBreakerOpensForAllInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	cfg := cachex.BreakerConfig{ConsecutiveFailures: 3, OpenFor: 10 * time.Second, HalfOpenProbes: 2}
	a, b := gatePair(t, true, cfg, clock)

	for i := range 3 {
		if !a.Allow(ctx, "db") {
			t.Fatalf("call %d refused before the breaker opened", i)
		}
		if err := a.Record(ctx, "db", false); err != nil {
			t.Fatal(err)
		}
	}
	if s := a.State("db"); s != cachex.BreakerOpen {
		t.Fatalf("State after 3 failures = %v; want open", s)
	}
	if b.State("db") != cachex.BreakerClosed {
		t.Fatal("b knows of the opening before asking")
	}
	if b.Allow(ctx, "db") {
		t.Fatal("the other instance allowed a call through a breaker opened elsewhere")
	}
	if s := b.State("db"); s != cachex.BreakerOpen {
		t.Fatalf("other instance State = %v; want open", s)
	}

	clock.Advance(10 * time.Second)
	if s := a.State("db"); s != cachex.BreakerHalfOpen {
		t.Fatalf("State after OpenFor = %v; want half_open", s)
	}
	// Half-open: two probes through, the third waits.
	probes := []bool{a.Allow(ctx, "db"), a.Allow(ctx, "db"), a.Allow(ctx, "db")}
	if !probes[0] || !probes[1] || probes[2] {
		t.Fatalf("half-open breaker let %v through: want exactly the first 2 probes", probes)
	}
	_ = a.Record(ctx, "db", true)
	if a.State("db") != cachex.BreakerHalfOpen {
		t.Fatal("closed after 1 of 2 probe successes")
	}
	_ = a.Record(ctx, "db", true)
	if s := a.State("db"); s != cachex.BreakerClosed {
		t.Fatalf("State after 2 probe successes = %v; want closed", s)
	}
	if !a.Allow(ctx, "db") {
		t.Fatal("closed breaker refused a call")
	}
}

func TestSystemGateHalfOpenFailureReopens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	g := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Second}, clock)
	g.Allow(ctx, "q")
	_ = g.Record(ctx, "q", false)
	clock.Advance(time.Second)
	if !g.Allow(ctx, "q") {
		t.Fatal("no probe after the open period")
	}
	_ = g.Record(ctx, "q", false)
	if g.State("q") != cachex.BreakerOpen || g.Allow(ctx, "q") {
		t.Fatal("a failed probe did not reopen the breaker")
	}
	// A probe whose outcome is never recorded does not wedge the breaker.
	clock.Advance(time.Second)
	if !g.Allow(ctx, "q") {
		t.Fatal("no probe after the second open period")
	}
	clock.Advance(time.Second)
	if !g.Allow(ctx, "q") {
		t.Fatal("an unrecorded probe kept the breaker half-open for good")
	}
}

func TestSystemGateBreakerErrorRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	g := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{
		ConsecutiveFailures: 100, ErrorRate: 0.5, MinRequests: 10, Window: 10 * time.Second,
	}, clock)
	// Failures spread over time and interleaved with successes: no streak,
	// but half the calls fail.
	for i := range 9 {
		clock.Advance(100 * time.Millisecond)
		g.Allow(ctx, "api")
		_ = g.Record(ctx, "api", i%2 == 0)
	}
	if g.State("api") != cachex.BreakerClosed {
		t.Fatal("opened before MinRequests")
	}
	clock.Advance(100 * time.Millisecond)
	_ = g.Record(ctx, "api", false) // 10 calls, 5 failures
	if s := g.State("api"); s != cachex.BreakerOpen {
		t.Fatalf("State at a 50%% error rate = %v; want open", s)
	}

	// Failures older than the window do not count.
	h := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{
		ConsecutiveFailures: 100, ErrorRate: 0.5, MinRequests: 10, Window: 10 * time.Second,
	}, clock)
	for range 4 {
		_ = h.Record(ctx, "api", false)
		_ = h.Record(ctx, "api", true)
	}
	clock.Advance(time.Minute)
	for range 8 {
		_ = h.Record(ctx, "api", true)
	}
	_ = h.Record(ctx, "api", false)
	_ = h.Record(ctx, "api", false)
	if s := h.State("api"); s != cachex.BreakerClosed {
		t.Fatalf("State = %v; failures from outside the window were counted", s)
	}
}

func TestBreakerConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := cachex.BreakerConfig{ConsecutiveFailures: -1, ErrorRate: 2, Window: -1, MinRequests: -1, OpenFor: -1, HalfOpenProbes: -1}.Validate()
	for _, want := range []string{"consecutive_failures", "error_rate", "window", "min_requests", "open_for", "half_open_probes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; missing %s", err, want)
		}
	}
	// Window and MinRequests without ErrorRate did nothing.
	err = cachex.BreakerConfig{Window: time.Minute, MinRequests: 20}.Validate()
	for _, want := range []string{"window 1m0s: it is the span error_rate is measured over, and error_rate is 0", "min_requests 20: it is the least number of calls before error_rate applies, and error_rate is 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate without error_rate = %v; want it to say %q", err, want)
		}
	}
	if err := (cachex.BreakerConfig{ErrorRate: 0.5, Window: time.Minute, MinRequests: 20}).Validate(); err != nil {
		t.Errorf("Validate with error_rate: %v", err)
	}
	if _, err := cachex.NewSystemGate(nil, cachex.BreakerConfig{}, nil); err == nil {
		t.Error("NewSystemGate accepted a nil cache")
	}
	if cachex.BreakerHalfOpen.String() != "half_open" || cachex.BreakerOpen.String() != "open" || cachex.BreakerClosed.String() != "closed" {
		t.Error("BreakerState.String")
	}
}

// An empty system name is refused by Pause and Record (cachex.ErrInvalid),
// and nothing is recorded: it was a system of its own, paused and tripped
// under the key "gate:pause:" for every caller that built an empty name.
func TestSystemGateRefusesAnEmptySystem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	g := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{ConsecutiveFailures: 1}, clock)
	if err := g.Pause(ctx, "", clock.Now().Add(time.Minute)); !errors.Is(err, cachex.ErrInvalid) || !strings.Contains(err.Error(), "pause: cachex: invalid argument: the system name is empty") {
		t.Fatalf("Pause(\"\") = %v; want cachex.ErrInvalid naming the empty system", err)
	}
	if err := g.Record(ctx, "", false); !errors.Is(err, cachex.ErrInvalid) || !strings.Contains(err.Error(), "record: cachex: invalid argument: the system name is empty") {
		t.Fatalf("Record(\"\") = %v; want cachex.ErrInvalid naming the empty system", err)
	}
	if _, paused := g.PausedUntil(ctx, ""); paused || !g.Allow(ctx, "") || g.State("") != cachex.BreakerClosed {
		t.Fatalf("after the refusals: paused %v, allowed %v, state %v; want nothing recorded", paused, g.Allow(ctx, ""), g.State(""))
	}
}

// A zero until (a Retry-After that did not parse, a field left unset) is
// refused by Pause (cachex.ErrInvalid), naming the system: it was taken as
// a pause already over, and the 429 it stood for held nothing back.
func TestSystemGateRefusesAZeroPause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	g := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{}, clock)
	if err := g.Pause(ctx, "billing", time.Time{}); !errors.Is(err, cachex.ErrInvalid) || !strings.Contains(err.Error(), "pause billing: cachex: invalid argument: until is the zero time") {
		t.Fatalf("Pause(billing, zero) = %v; want cachex.ErrInvalid naming the system and the zero time", err)
	}
	// A pause already over is no mistake (a Retry-After that has passed):
	// it changes nothing.
	if err := g.Pause(ctx, "billing", clock.Now().Add(-time.Second)); err != nil {
		t.Fatalf("Pause(billing, a second ago) = %v", err)
	}
	if _, paused := g.PausedUntil(ctx, "billing"); paused {
		t.Fatal("billing paused")
	}
}

// A pause past 2262 is refused: the gate stores times as Unix
// nanoseconds, which cannot hold it. Pause(2270) answered nil and stored
// a wrapped time long past (the pause held nothing back); past 2318 the
// TTL overflowed and the error spoke of a negative ttl nobody gave.
func TestSystemGateRefusesAPauseItCannotStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{}, nil)
	for _, year := range []int{2270, 2400, 9999} {
		until := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		err := g.Pause(ctx, "billing", until)
		if !errors.Is(err, cachex.ErrInvalid) || !strings.Contains(err.Error(), "pause billing: cachex: invalid argument: until "+until.String()+" is after 2262-04-11") {
			t.Errorf("Pause(billing, %d) = %v; want cachex.ErrInvalid naming the system, the time and the latest one storable", year, err)
		}
		if _, paused := g.PausedUntil(ctx, "billing"); paused {
			t.Fatalf("billing paused after Pause(%d)", year)
		}
	}
	until := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := g.Pause(ctx, "billing", until); err != nil {
		t.Fatalf("Pause(billing, 2200) = %v", err)
	}
	if got, paused := g.PausedUntil(ctx, "billing"); !paused || !got.Equal(until) {
		t.Fatalf("PausedUntil(billing) = %v, %v; want %v", got, paused, until)
	}
}

// cancelOnSet is a cache whose SetString first cancels the caller's
// context: a caller giving up while a gate holds its lock.
type cancelOnSet struct {
	cachex.Cache
	cancel context.CancelFunc
}

func (c *cancelOnSet) SetString(ctx context.Context, key, value string, ttl time.Duration) error {
	c.cancel()
	return c.Cache.SetString(ctx, key, value, ttl)
}

// A caller whose context ends while Pause holds the gate's lock leaves
// the lock free: the release is cleanup, done whatever the caller's
// context. Before, it was refused with the context's error and the lock
// held every other writer of that system's pause for its 5 s.
func TestSystemGateReleasesItsLockWhenTheCallerGivesUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	local := newLocal(t, cachex.LocalConfig{})
	clock := newFakeClock()
	g := newGate(t, &cancelOnSet{Cache: local, cancel: cancel}, cachex.BreakerConfig{}, clock)
	if err := g.Pause(ctx, "billing", clock.Now().Add(time.Minute)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pause with the caller giving up = %v; want context.Canceled", err)
	}
	l, err := local.Lock(context.Background(), "gate:pause:billing", "other", time.Minute)
	if err != nil {
		t.Fatalf("the gate's lock after the caller gave up: %v; want it free", err)
	}
	_ = l.Release(context.Background())
}

// Peek answers as Allow would, through a pause, an opening published by
// another instance and a half-open breaker, but takes no probe: after any
// number of Peeks the next Allow gets the probe.
func TestSystemGatePeekTakesNoProbe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	cfg := cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * time.Second}
	a, b := gatePair(t, true, cfg, clock)
	if !a.Peek(ctx, "api") {
		t.Fatal("Peek refused a system never seen")
	}
	a.Allow(ctx, "api")
	if err := a.Record(ctx, "api", false); err != nil {
		t.Fatal(err)
	}
	if a.Peek(ctx, "api") || b.Peek(ctx, "api") {
		t.Fatal("Peek let a call through an open breaker (here, or published to the other instance)")
	}
	if s := b.State("api"); s != cachex.BreakerClosed {
		t.Fatalf("Peek changed the other instance's breaker: %v", s)
	}
	clock.Advance(10 * time.Second)
	for range 3 {
		if !a.Peek(ctx, "api") {
			t.Fatal("Peek refused a half-open breaker's probe")
		}
	}
	if !a.Allow(ctx, "api") {
		t.Fatal("the Peeks took the half-open breaker's one probe")
	}
	if a.Peek(ctx, "api") || a.Allow(ctx, "api") {
		t.Fatal("a second call let through while the probe is out")
	}
	if err := a.Pause(ctx, "other", clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if a.Peek(ctx, "other") {
		t.Fatal("Peek let a call through a pause")
	}
}

// A half-open breaker's probe whose call ends without an outcome is given
// back (Probe.Release) and the next call probes: the breaker refused every
// call for another OpenFor though nobody was probing. A probe of an
// earlier round changes nothing once the breaker has probed afresh.
func TestSystemGateReleasedProbeLetsTheNextCallProbe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	g := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * time.Second}, clock)
	if p, ok := g.Acquire(ctx, "api"); !ok || p != (cachex.Probe{}) {
		t.Fatalf("a closed breaker's call: %v, %v; want let through, no probe", p, ok)
	}
	_ = g.Record(ctx, "api", false)
	clock.Advance(10 * time.Second)
	p, ok := g.Acquire(ctx, "api")
	if !ok || p == (cachex.Probe{}) {
		t.Fatalf("half-open: %v, %v; want the probe", p, ok)
	}
	if g.Allow(ctx, "api") {
		t.Fatal("a second call let through while the probe is out")
	}
	p.Release()
	p2, ok := g.Acquire(ctx, "api")
	if !ok {
		t.Fatal("the probe given back was not handed to the next call")
	}
	if g.Allow(ctx, "api") {
		t.Fatal("a second call let through while the new probe is out")
	}
	if g.State("api") != cachex.BreakerHalfOpen {
		t.Fatalf("Release changed the state: %v", g.State("api"))
	}
	clock.Advance(10 * time.Second) // p2 never told: a fresh round
	if !g.Allow(ctx, "api") {
		t.Fatal("no fresh probe after OpenFor")
	}
	p2.Release() // of the earlier round
	if g.Allow(ctx, "api") {
		t.Fatal("a probe of an earlier round freed this round's")
	}
	cachex.Probe{}.Release() // the zero Probe: nothing
}

// Releasing a probe twice (or a copy of it: a Probe is a value, easily
// handed around) gives back one probe, not two: the second release freed
// a probe still out, and the half-open breaker let more calls through
// than HalfOpenProbes.
func TestSystemGateProbeReleasedTwiceFreesOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	g := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * time.Second, HalfOpenProbes: 2}, clock)
	_ = g.Record(ctx, "api", false)
	clock.Advance(10 * time.Second)
	p1, ok1 := g.Acquire(ctx, "api")
	_, ok2 := g.Acquire(ctx, "api")
	if !ok1 || !ok2 || g.Allow(ctx, "api") {
		t.Fatalf("half-open with 2 probes: let through %v, %v; want both, and no third", ok1, ok2)
	}
	copied := p1
	p1.Release()
	p1.Release()
	copied.Release()
	if _, ok := g.Acquire(ctx, "api"); !ok {
		t.Fatal("the probe given back was not handed to the next call")
	}
	if g.Allow(ctx, "api") {
		t.Fatal("a call let through with both probes out: releasing one probe twice freed two")
	}
}

// A success recorded while the breaker is half-open but no probe is out
// (the probes given back) is a late result of a call let through before
// it opened, not a probe's: it does not close the breaker. It was counted
// as a probe's success, closing the breaker though no probe had reached
// the system.
func TestSystemGateLateSuccessWithNoProbeOutDoesNotClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	g := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * time.Second}, clock)
	_ = g.Record(ctx, "api", false)
	clock.Advance(10 * time.Second)
	p, ok := g.Acquire(ctx, "api")
	if !ok {
		t.Fatal("half-open: the probe was refused")
	}
	p.Release() // the probe's call was skipped
	if err := g.Record(ctx, "api", true); err != nil {
		t.Fatal(err)
	}
	if s := g.State("api"); s != cachex.BreakerHalfOpen {
		t.Fatalf("a late success with no probe out left the breaker %v, want half_open", s)
	}
	if _, ok := g.Acquire(ctx, "api"); !ok {
		t.Fatal("the next call was refused the probe")
	}
	if err := g.Record(ctx, "api", true); err != nil { // the probe's own success
		t.Fatal(err)
	}
	if s := g.State("api"); s != cachex.BreakerClosed {
		t.Fatalf("the probe's success left the breaker %v, want closed", s)
	}
}

// RecordAttempt, told the call took no probe, does not count its success
// while the breaker is half-open, even with another call's probe out
// (Record would take it for the probe's and close the breaker); the
// probe's own success, and any failure, count.
func TestSystemGateRecordAttemptWithoutAProbeWhileHalfOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	g := newGate(t, newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * time.Second}, clock)
	late, ok := g.Acquire(ctx, "api") // closed: no probe
	if !ok || late != (cachex.Probe{}) {
		t.Fatalf("closed: %v, %v; want let through with no probe", late, ok)
	}
	if err := g.RecordAttempt(ctx, "api", cachex.Probe{}, false); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	probe, ok := g.Acquire(ctx, "api")
	if !ok || probe == (cachex.Probe{}) {
		t.Fatal("half-open: the probe was refused")
	}
	if err := g.RecordAttempt(ctx, "api", late, true); err != nil {
		t.Fatal(err)
	}
	if s := g.State("api"); s != cachex.BreakerHalfOpen {
		t.Fatalf("a late success with a probe out left the breaker %v, want half_open", s)
	}
	if err := g.RecordAttempt(ctx, "api", probe, true); err != nil {
		t.Fatal(err)
	}
	if s := g.State("api"); s != cachex.BreakerClosed {
		t.Fatalf("the probe's success left the breaker %v, want closed", s)
	}
	if err := g.RecordAttempt(ctx, "", probe, true); !errors.Is(err, cachex.ErrInvalid) {
		t.Fatalf("RecordAttempt with no system: %v, want ErrInvalid", err)
	}
}
