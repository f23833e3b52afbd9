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
	asked := 0
	n := notifier.New(func() <-chan struct{} { asked++; return src })
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
	if asked != 2 {
		t.Fatalf("the source was asked for %d times, want once per start", asked)
	}
}
