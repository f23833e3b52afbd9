package orderflow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/orderflow"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// lockedBuffer is a ledger the test can read while handlers write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newEngine(t *testing.T, opts orderflow.Options) *engine.Engine {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "orders.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := engine.New(engine.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := orderflow.Register(e, opts); err != nil {
		t.Fatal(err)
	}
	done, err := e.RunBackground(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}

func TestOrdersCompleteRetriesAndLedger(t *testing.T) {
	ledger := &lockedBuffer{}
	e := newEngine(t, orderflow.Options{Ledger: ledger, PaymentBackoff: retry.Policy{Base: time.Millisecond, Max: 2 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 6
	var handles []*engine.TaskHandle
	for i := 1; i <= n; i++ {
		h, err := e.Start(ctx, orderflow.Workflow, orderflow.SampleOrder(i))
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	for i, h := range handles {
		out, err := h.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if out.State != store.TaskComplete {
			t.Fatalf("order %d ended %s: %s", i+1, out.State, out.Error)
		}
		var pay orderflow.Payment
		if err := out.Decode("charge_payment", &pay); err != nil {
			t.Fatal(err)
		}
		wantAttempt := 1
		if (i+1)%3 == 0 {
			wantAttempt = 2
		}
		if pay.Attempt != wantAttempt {
			t.Errorf("order %d: payment succeeded on attempt %d, want %d", i+1, pay.Attempt, wantAttempt)
		}
		var order orderflow.Order
		if err := out.Decode("create_order", &order); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("ORD-%06d", i+1); order.OrderNumber != want || order.PaymentID != pay.PaymentID {
			t.Errorf("order %d: %+v", i+1, order)
		}
	}
	if got := e.Stats().StepsRetried; got != 2 {
		t.Errorf("retries = %d, want 2 (orders 3 and 6)", got)
	}
	lines := strings.Fields(ledger.String())
	if len(lines) != 4*n {
		t.Fatalf("ledger has %d lines, want %d:\n%s", len(lines), 4*n, ledger.String())
	}
	slices.Sort(lines)
	if len(slices.Compact(lines)) != 4*n {
		t.Fatalf("ledger repeats a key:\n%s", ledger.String())
	}
}

func TestFlakinessIsConfigurable(t *testing.T) {
	e := newEngine(t, orderflow.Options{FlakyEvery: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := e.Start(ctx, orderflow.Workflow, orderflow.SampleOrder(3))
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Wait(ctx)
	if err != nil || out.State != store.TaskComplete {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	if got := e.Stats().StepsRetried; got != 0 {
		t.Errorf("retries = %d with flakiness off", got)
	}
}

func TestInputSchemaRefusesBadOrders(t *testing.T) {
	e := newEngine(t, orderflow.Options{})
	for _, in := range []any{
		map[string]any{"items": []any{}},
		map[string]any{"order_id": "7", "items": []any{}},
		map[string]any{"order_id": 7, "items": "none"},
	} {
		if _, err := e.Start(context.Background(), orderflow.Workflow, in); !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("Start(%v) = %v, want ErrInvalidInput", in, err)
		}
	}
}

func TestEmptyCartFailsPermanently(t *testing.T) {
	e := newEngine(t, orderflow.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := e.Start(ctx, orderflow.Workflow, orderflow.Input{OrderID: 1, Items: []orderflow.Item{}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.State != store.TaskError || !strings.Contains(string(out.Error), "no items") {
		t.Fatalf("outcome %s %s, want error about no items", out.State, out.Error)
	}
}

// Options.PaymentBackoff is the backoff of the template Register
// registers: RegisterHandlers, which registers no template, refuses it
// rather than drop it, and Register refuses one the engine would before
// registering anything. Before, RegisterHandlers ignored it without a word,
// and Register left the handlers registered when the template was refused.
func TestPaymentBackoffRefusedWhereItCannotApply(t *testing.T) {
	newBare := func() *engine.Engine {
		st, err := sqlite.Open(context.Background(), sqlite.Memory, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		e, err := engine.New(engine.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, c := range []struct {
		name     string
		register func(*engine.Engine, orderflow.Options) error
		backoff  retry.Policy
		want     string
	}{
		{"RegisterHandlers", orderflow.RegisterHandlers, retry.Policy{Base: time.Second}, "orderflow.RegisterHandlers: Options.PaymentBackoff applies to the template Register registers, and RegisterHandlers registers none"},
		{"Register", orderflow.Register, retry.Policy{Base: 2}, "orderflow.Register: Options.PaymentBackoff: retry base 2ns is under a millisecond"},
	} {
		e := newBare()
		err := c.register(e, orderflow.Options{PaymentBackoff: c.backoff})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if h, tpl := e.Handlers(), e.Templates(); len(h)+len(tpl) != 0 {
			t.Errorf("%s refused, but registered %v %v", c.name, h, tpl)
		}
	}
}
