package engine

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// applyStartOptions applies opts to o in order; a nil option is refused
// (store.ErrInvalid) before any is applied.
func applyStartOptions(o *startOptions, opts []StartOption) error {
	for i, opt := range opts {
		if opt == nil {
			return fmt.Errorf("%w: start option %d (counting from 0) is nil", store.ErrInvalid, i)
		}
	}
	for _, opt := range opts {
		opt(o)
	}
	return nil
}

// overrideWith applies a StartMany item's options over the shared ones in
// o: each replaces the shared one it repeats. The item's options are
// checked on their own first, so one given twice there is refused.
func (o *startOptions) overrideWith(opts []StartOption) error {
	var own startOptions
	if err := applyStartOptions(&own, opts); err != nil {
		return err
	}
	if len(own.twice) > 0 || own.delays > 1 {
		return own.check()
	}
	if own.delays > 0 { // the item's StartAt or StartAfter replaces the shared one
		o.delays = 0
	}
	o.overriding = true
	defer func() { o.overriding = false }()
	return applyStartOptions(o, opts)
}

// check refuses options that are mistakes (an empty idempotency key or
// one of ContinueAsNew's, an empty group or queue, a group or queue the store would refuse, a nil
// transaction, a timeout that is not positive or under a millisecond, a
// limit or priority out of range) or that contradict each
// other (Unique with a key, StartAt with StartAfter, one option given
// twice with different values), naming the options:
// a start would otherwise honour one of them and drop the other silently.
func (o *startOptions) check() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{store.ErrInvalid}, args...)...))
	}
	if o.keySet && o.key == "" {
		bad("WithIdempotencyKey(\"\"): the key is empty (leave the option out to key the task by its input)")
	}
	if o.keySet && isContinueKey(o.key) {
		bad("WithIdempotencyKey(%s): keys continue-of-<task id> are ContinueAsNew's own: the task would be taken for the next run of that task (and a run of it that continued as new, for this one)", quoteName(o.key))
	}
	if o.unique && o.keySet {
		bad("Unique and WithIdempotencyKey both given: a task has a fresh identity or the key's, not both")
	}
	if o.txSet && o.tx == nil {
		bad("InTx(nil): the transaction is nil")
	}
	if o.timeoutSet && o.timeout <= 0 {
		bad("WithWorkflowTimeout(%s): the timeout must be positive (leave the option out for none)", o.timeout)
	} else if o.timeoutSet && o.timeout < time.Millisecond {
		bad("WithWorkflowTimeout(%s): the timeout is under a millisecond: a bare number is nanoseconds (write 30 * time.Second, not 30)", o.timeout)
	}
	if o.concSet && o.group == "" {
		bad("WithConcurrency(\"\", %d): the group is empty", o.groupMax)
	} else if o.concSet {
		if msg := checkStoreName("group", o.group); msg != "" {
			bad("WithConcurrency(%s, %d): %s", quoteName(o.group), o.groupMax, msg)
		}
	}
	if o.concSet && (o.groupMax < 1 || o.groupMax > store.MaxCount) {
		bad("WithConcurrency(%s, %d): the limit must be at least 1 and at most %d", quoteName(o.group), o.groupMax, store.MaxCount)
	}
	if o.queueSet && o.queue == "" {
		bad("WithQueue(\"\"): the queue is empty (leave the option out for the template's, else %q)", store.DefaultQueue)
	} else if o.queueSet {
		if msg := checkName("queue", o.queue); msg != "" {
			bad("WithQueue(%s): %s", quoteName(o.queue), msg)
		}
	}
	if p := o.priority; p != nil && (*p < store.MinPriority || *p > store.MaxPriority) {
		bad("WithPriority(%d): the priority must be between %d and %d", *p, store.MinPriority, store.MaxPriority)
	}
	if o.delays > 1 {
		bad("StartAt and StartAfter given %d times: give one", o.delays)
	}
	for _, msg := range o.twice {
		bad("%s", msg)
	}
	return errors.Join(errs...)
}

// givenTwice records option given again with another value (now; was is
// the earlier one, or with now "" both are said in was), for check to
// refuse: the later value would win without a word. The same value twice
// is accepted.
func (o *startOptions) givenTwice(option, was, now string) {
	if o.overriding { // an item's option over StartMany's shared one
		return
	}
	msg := fmt.Sprintf("%s given twice, with %s and %s: give one", option, was, now)
	if now == "" {
		msg = fmt.Sprintf("%s given twice, with %s: give one", option, was)
	}
	// (Clip: StartMany copies its shared options into every item's.)
	o.twice = append(slices.Clip(o.twice), msg)
}

// sameIDB reports whether a and b are the same transaction (or database);
// values of a type that cannot be compared are taken as different.
func sameIDB(a, b bun.IDB) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
