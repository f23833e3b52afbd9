package faultstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/internal/faultstore"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func create(fs store.Store, key string) (*store.CreateTaskResult, error) {
	return fs.CreateTask(context.Background(), &store.CreateTaskParams{Namespace: "t", Name: "n", Version: "1", Kind: store.KindDAG,
		IdentityKey: key, InputHash: "h", Steps: []store.NewStep{{Name: "s", Handler: "h"}}})
}

// FailBefore writes nothing; FailAfter commits and still fails; both look
// transient to the caller; the nth call alone is picked.
func TestActions(t *testing.T) {
	inner := open(t)
	fs, err := faultstore.New(inner, 1,
		faultstore.Rule{Method: "CreateTask", Nth: 2, Action: faultstore.FailBefore},
		faultstore.Rule{Method: "CreateTask", Nth: 3, Action: faultstore.FailAfter})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, want := range []string{"ok", "before", "after", "ok"} {
		key := fmt.Sprint("k", i)
		_, err := create(fs, key)
		_, found := inner.GetTaskByIdentity(ctx, key)
		var ie *faultstore.InjectedError
		switch want {
		case "ok":
			if err != nil || found != nil {
				t.Fatalf("call %d: %v / %v, want a task", i+1, err, found)
			}
		case "before":
			if !errors.As(err, &ie) || ie.Committed || !errors.Is(err, store.ErrRetryable) || !errors.Is(found, store.ErrNotFound) {
				t.Fatalf("call %d: %v, task lookup %v; want an uncommitted transient fault and no task", i+1, err, found)
			}
		case "after":
			if !errors.As(err, &ie) || !ie.Committed || found != nil {
				t.Fatalf("call %d: %v, task lookup %v; want a committed fault and the task", i+1, err, found)
			}
		}
	}
	if got := fs.Calls("CreateTask"); got != 4 {
		t.Fatalf("counted %d calls, want 4", got)
	}
	if got := len(fs.Injected()); got != 2 {
		t.Fatalf("injected %d faults, want 2", got)
	}
}

// The same seed picks the same calls.
func TestProbabilityIsSeeded(t *testing.T) {
	picks := func(seed uint64) string {
		fs, err := faultstore.New(open(t), seed, faultstore.Rule{Method: "GetTask", Probability: 0.5, Action: faultstore.FailBefore})
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for range 40 {
			if _, err := fs.GetTask(context.Background(), 1); errors.Is(err, faultstore.ErrInjected) {
				out += "x"
			} else {
				out += "."
			}
		}
		return out
	}
	a, b := picks(7), picks(7)
	if a != b {
		t.Fatalf("seed 7 picked %s then %s", a, b)
	}
	if a == picks(8) {
		t.Fatalf("seeds 7 and 8 picked the same calls %s", a)
	}
}

// A rule with Kill kills the store once it fires: later calls fail with
// ErrDead, and OnKill is told once.
func TestKill(t *testing.T) {
	fs, err := faultstore.New(open(t), 1, faultstore.Rule{Method: "*", Nth: 2, Action: faultstore.FailAfter, Kill: true})
	if err != nil {
		t.Fatal(err)
	}
	kills := 0
	fs.OnKill(func() { kills++ })
	if _, err := fs.GetTask(context.Background(), 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a read is not a write: %v", err)
	}
	if _, err := create(fs, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := create(fs, "b"); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("second write: %v, want the injected fault", err)
	}
	if _, err := fs.GetTask(context.Background(), 1); !errors.Is(err, faultstore.ErrDead) || !fs.Dead() || kills != 1 {
		t.Fatalf("after the kill: %v, dead %v, kills %d", err, fs.Dead(), kills)
	}
}

// Delay waits, then runs the call; a context that ends first wins.
func TestDelay(t *testing.T) {
	fs, err := faultstore.New(open(t), 1, faultstore.Rule{Method: "GetTask", Action: faultstore.Delay, Delay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fs.GetTask(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("delayed call with an ended context: %v", err)
	}
}

// Mistakes in rules are refused where they are made, and nothing is
// added.
func TestBadRules(t *testing.T) {
	for _, r := range []faultstore.Rule{
		{Method: "Finish", Action: faultstore.FailBefore},
		{Method: "GetTask", Action: faultstore.FailAfter},
		{Method: "GetTask"},
		{Method: "GetTask", Action: faultstore.FailBefore, Probability: 2},
	} {
		if _, err := faultstore.New(open(t), 1, r); err == nil || !strings.HasPrefix(err.Error(), "faultstore rule") {
			t.Errorf("rule %+v accepted (%v)", r, err)
		}
	}
}
