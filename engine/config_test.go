package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// TestConfigRefusesMistakes: settings New accepted and the engine then
// could not honour are refused by New, each naming the field: a duration
// under a millisecond (a bare number is nanoseconds: LeaseTTL 30 made
// leases expire at once, Retention 7 deleted finished tasks at once), a
// MinConcurrency above the default MaxConcurrency, and a WorkerID or
// Version the store refuses (every claim failed, forever, with a warning),
// and Cache beside CacheStore (Cache was ignored); a lease under
// MinLeaseTTL (LeaseTTL 1ms was taken: its heartbeat, every third of it,
// could not keep it, and a rescue took running steps for another attempt).
func TestConfigRefusesMistakes(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), nil)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	local, err := cachex.New(cachex.Config{}, zap.NewNop())
	must(t, err)
	t.Cleanup(func() { local.Close() })
	for _, c := range []struct {
		cfg  engine.Config
		want string
	}{
		{engine.Config{Execution: engine.ExecutionConfig{LeaseTTL: 30}}, "lease TTL 30ns is under a millisecond"},
		{engine.Config{Execution: engine.ExecutionConfig{LeaseTTL: time.Millisecond}}, "lease TTL 1ms is below 100ms (MinLeaseTTL)"},
		{engine.Config{Execution: engine.ExecutionConfig{LeaseTTL: engine.MinLeaseTTL - 1}}, "lease TTL 99.999999ms is below 100ms (MinLeaseTTL)"},
		{engine.Config{Execution: engine.ExecutionConfig{Retention: 7}}, "retention 7ns is under a millisecond"},
		{engine.Config{Execution: engine.ExecutionConfig{DefaultTimeout: 10}}, "default timeout 10ns is under a millisecond"},
		{engine.Config{Execution: engine.ExecutionConfig{RescueInterval: 5}}, "rescue interval 5ns is under a millisecond"},
		{engine.Config{Execution: engine.ExecutionConfig{TuneInterval: 1}}, "tune interval 1ns is under a millisecond"},
		{engine.Config{Execution: engine.ExecutionConfig{ScheduleInterval: 1}}, "schedule interval 1ns is under a millisecond"},
		{engine.Config{Execution: engine.ExecutionConfig{MinConcurrency: 50}}, "min concurrency 50 exceeds max 32"},
		{engine.Config{WorkerID: strings.Repeat("w", 300)}, "worker ID"},
		{engine.Config{WorkerID: "a\x00b"}, "contains a NUL byte"},
		{engine.Config{Version: strings.Repeat("v", 300)}, "version"},
		{engine.Config{CacheStore: local, Cache: cachex.Config{Distributed: "redis://127.0.0.1:63790/0"}}, "Cache and CacheStore are both set"},
	} {
		c.cfg.Store = st
		_, err := engine.New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want an error saying %q", c.cfg.Execution, err, c.want)
		}
	}
	// At a millisecond and above (a lease at MinLeaseTTL), and KeepForever,
	// they are accepted.
	_, err = engine.New(engine.Config{Store: st, WorkerID: "w1", Version: "v1.2.3", Execution: engine.ExecutionConfig{
		LeaseTTL: engine.MinLeaseTTL, Retention: engine.KeepForever, DefaultTimeout: time.Millisecond, MinConcurrency: 32}})
	must(t, err)
}

// TestConfigNamesANegativeCount: a negative MinConcurrency, MaxConcurrency
// or BatchSize is refused naming the field and its value; the error said
// "execution concurrency and batch size must not be negative", naming
// neither which nor what.
func TestConfigNamesANegativeCount(t *testing.T) {
	for _, c := range []struct {
		x    engine.ExecutionConfig
		want string
	}{
		{engine.ExecutionConfig{MinConcurrency: -1}, "execution min concurrency -1 is negative"},
		{engine.ExecutionConfig{MaxConcurrency: -2}, "execution max concurrency -2 is negative"},
		{engine.ExecutionConfig{BatchSize: -3}, "execution batch size -3 is negative"},
	} {
		err := (&engine.Config{Execution: c.x}).Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v): %v, want an error saying %q", c.x, err, c.want)
		}
	}
}

// TestConfigErrorsInAStableOrder: several bad durations are reported in
// the fields' declaration order, the same text every time; they were
// collected from a map, so the joined error's order changed from run to
// run.
func TestConfigErrorsInAStableOrder(t *testing.T) {
	cfg := engine.Config{Execution: engine.ExecutionConfig{
		TuneInterval: -1, LeaseTTL: -1, PollInterval: -1, RescueInterval: -1, ScheduleInterval: -1, DefaultTimeout: -1}}
	first := cfg.Validate().Error()
	for range 50 {
		if got := cfg.Validate().Error(); got != first {
			t.Fatalf("Validate gave\n%s\nthen\n%s", first, got)
		}
	}
	var at []int
	for _, name := range []string{"tune interval", "lease TTL", "poll interval", "rescue interval", "schedule interval", "default timeout"} {
		at = append(at, strings.Index(first, name))
	}
	for i := 1; i < len(at); i++ {
		if at[i-1] < 0 || at[i] < at[i-1] {
			t.Fatalf("Validate's errors not in declaration order: %s", first)
		}
	}
}

// nilClock is a Clock whose nil pointer panics when used.
type nilClock struct{ t time.Time }

func (c *nilClock) Now() time.Time                       { return c.t }
func (c *nilClock) After(time.Duration) <-chan time.Time { return nil }
func (c *nilClock) StoreNow() time.Time                  { return c.t }

// TestConfigRefusesNilPointers: a nil pointer in an interface field (Store,
// Clock, TracerProvider, CacheStore) is refused by New naming the field;
// only a nil Codec was, and the others passed their "!= nil" checks and
// panicked later (in New, Run or the first Start).
func TestConfigRefusesNilPointers(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), nil)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	for _, c := range []struct {
		cfg  engine.Config
		want string
	}{
		{engine.Config{Store: (*sqlite.Store)(nil)}, "config: Store is a nil *sqlite.Store"},
		{engine.Config{Store: st, Clock: (*nilClock)(nil)}, "config: Clock is a nil *engine_test.nilClock"},
		{engine.Config{Store: st, TracerProvider: (*sdktrace.TracerProvider)(nil)}, "config: TracerProvider is a nil *trace.TracerProvider"},
		{engine.Config{Store: st, CacheStore: (*cachex.Local)(nil)}, "config: CacheStore is a nil *cachex.Local"},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("New with %q: panicked: %v", c.want, r)
				}
			}()
			_, err := engine.New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New: %v, want an error saying %q", err, c.want)
			}
		}()
	}
}

// TestConfigRefusesAnUnrunnableConcurrency: a MaxConcurrency (or
// MinConcurrency) above engine.MaxConcurrencyLimit is refused naming it.
// Before, New took MaxConcurrency 1<<40 and Run panicked (makechan: size
// out of range) allocating the completion buffer sized by it; values
// below that made Run allocate gigabytes up front.
func TestConfigRefusesAnUnrunnableConcurrency(t *testing.T) {
	for _, c := range []struct {
		x    engine.ExecutionConfig
		want string
	}{
		{engine.ExecutionConfig{MaxConcurrency: 1 << 40}, "config: execution max concurrency 1099511627776 is above 1048576 (engine.MaxConcurrencyLimit)"},
		{engine.ExecutionConfig{MaxConcurrency: engine.MaxConcurrencyLimit + 1}, "execution max concurrency 1048577 is above 1048576"},
		{engine.ExecutionConfig{MinConcurrency: 1 << 21, MaxConcurrency: 1 << 21}, "execution min concurrency 2097152 is above 1048576"},
	} {
		err := (&engine.Config{Execution: c.x}).Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v): %v, want an error saying %q", c.x, err, c.want)
		}
	}
	err := (&engine.Config{Store: nil, Execution: engine.ExecutionConfig{MaxConcurrency: engine.MaxConcurrencyLimit}}).Validate()
	if err == nil || strings.Contains(err.Error(), "concurrency") {
		t.Errorf("Validate(MaxConcurrency: MaxConcurrencyLimit): %v, want only the missing Store", err)
	}
}

// TestConfigRefusesABatchNoClaimTakes: a BatchSize above store.MaxCount,
// the most steps a claim takes, is refused naming it. Before, New took
// BatchSize 1<<40 and every RunOnce failed ("claiming steps: limit: must
// be at least 1 and at most 2147483647").
func TestConfigRefusesABatchNoClaimTakes(t *testing.T) {
	err := (&engine.Config{Execution: engine.ExecutionConfig{BatchSize: 1 << 40}}).Validate()
	if want := "config: execution batch size 1099511627776 is above 2147483647 (store.MaxCount, the most steps a claim takes)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate(BatchSize 1<<40): %v, want an error saying %q", err, want)
	}
	err = (&engine.Config{Execution: engine.ExecutionConfig{BatchSize: store.MaxCount}}).Validate()
	if err == nil || strings.Contains(err.Error(), "batch size") {
		t.Errorf("Validate(BatchSize store.MaxCount): %v, want only the missing Store", err)
	}
}

// TestConfigRefusesAnIntervalThreeOfWhichOverflow: a lease TTL, rescue
// interval or schedule interval of which three do not fit in a
// time.Duration (about 97 years) is refused, naming the field. Three
// lease TTLs are a worker registry record's life, three rescue or
// schedule intervals a leadership's: the product wrapped negative, the
// store refused every election (on Postgres no process led maintenance or
// the schedules: no rescue, no retention, no tick fired) and every
// registry record, each with a warning only.
func TestConfigRefusesAnIntervalThreeOfWhichOverflow(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), nil)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	const century = 100 * 365 * 24 * time.Hour
	for _, c := range []struct {
		x    engine.ExecutionConfig
		want string
	}{
		{engine.ExecutionConfig{LeaseTTL: century}, "lease TTL 876000h0m0s is too long"},
		{engine.ExecutionConfig{RescueInterval: century}, "rescue interval 876000h0m0s is too long"},
		{engine.ExecutionConfig{ScheduleInterval: century}, "schedule interval 876000h0m0s is too long"},
	} {
		_, err := engine.New(engine.Config{Store: st, Execution: c.x})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want an error saying %q", c.x, err, c.want)
		}
	}
	long := engine.MaxInterval
	_, err = engine.New(engine.Config{Store: st, Execution: engine.ExecutionConfig{LeaseTTL: long, RescueInterval: long, ScheduleInterval: long}})
	must(t, err)
}

// TestConfigRefusesAnAdaptiveTTLAboveTheEnginesCaps: the engine caps the
// TTL of each value it caches (step_history at 5 min, report at 2 min), so
// an AdaptiveTTL Max, or Min, above the longest cap did nothing above it:
// Max: time.Hour was taken, and no value was kept past 5 min.
func TestConfigRefusesAnAdaptiveTTLAboveTheEnginesCaps(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), nil)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	for _, c := range []struct {
		a    cachex.AdaptiveTTLConfig
		want string
	}{
		{cachex.AdaptiveTTLConfig{Max: time.Hour}, "config: adaptive TTL: max 1h0m0s is above 5m0s, the longest TTL the engine gives a cached value (step_history 5m0s, report 2m0s): it would do nothing above it"},
		{cachex.AdaptiveTTLConfig{Min: 10 * time.Minute, Max: time.Hour}, "config: adaptive TTL: min 10m0s is above 5m0s, the longest TTL the engine gives a cached value"},
	} {
		_, err := engine.New(engine.Config{Store: st, AdaptiveTTL: c.a})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(AdaptiveTTL: %+v): %v, want an error saying %q", c.a, err, c.want)
		}
	}
	_, err = engine.New(engine.Config{Store: st, AdaptiveTTL: cachex.AdaptiveTTLConfig{Min: 10 * time.Second, Max: 5 * time.Minute}})
	must(t, err)
}
