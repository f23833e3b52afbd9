package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store/postgres"
)

// TestOpenRefusesMistakenOptions: Open accepted a WakeupPoll under a
// millisecond (WakeupPoll: 2 is 2 ns: a disconnected listener's ticker
// would spin) and a nil query hook (a panic at the first statement). Both
// are refused before Open connects (the DSN here names no server).
func TestOpenRefusesMistakenOptions(t *testing.T) {
	for _, c := range []struct {
		opts postgres.Options
		want string
	}{
		{postgres.Options{WakeupPoll: 2}, "wakeup poll 2ns is under a millisecond"},
		{postgres.Options{QueryHooks: []bun.QueryHook{nil}}, "query hook 0 is nil"},
	} {
		st, err := postgres.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", &c.opts)
		if err == nil {
			st.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%+v): %v, want an error saying %q", c.opts, err, c.want)
		}
	}
}
