package notifier_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/engine/internal/notifier"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every subscriber sees a signal; the goroutine ends with the last
// subscription (goleak checks) and starts again with the next.
func TestFanOutAndLifecycle(t *testing.T) {
	src := make(chan struct{})
	asked, released := 0, 0
	n := notifier.New(func() (<-chan struct{}, func()) { asked++; return src, func() { released++ } })
	a, cancelA := n.Subscribe()
	b, cancelB := n.Subscribe()
	src <- struct{}{} // taken by the goroutine, which then signals both
	<-a
	<-b
	cancelA()
	cancelB()
	cancelB() // twice is fine
	c, cancelC := n.Subscribe()
	src <- struct{}{}
	<-c
	cancelC()
	if asked != 2 || released != 2 {
		t.Fatalf("the source was asked for %d times and released %d, want once each per start", asked, released)
	}
}
