// Package storetest is the conformance suite every Tasker store must pass.
// A backend's test file calls Exercise with a constructor that returns a
// fresh, empty store; each case runs in parallel on its own store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// Exercise runs every store behaviour against stores made by newStore. The
// constructor must return an empty store and arrange its own cleanup.
func Exercise(t *testing.T, newStore func(t *testing.T) store.Store) {
	cases := map[string]func(t *testing.T, b *bundle){
		"CreateAndGet":               testCreateAndGet,
		"CreateTasks":                testCreateTasks,
		"CreateTasksInTx":            testCreateTasksInTx,
		"TraceContext":               testTraceContext,
		"Deadline":                   testDeadline,
		"CancelWideTask":             testCancelWideTask,
		"IdempotentCreate":           testIdempotentCreate,
		"BadInputWritesNothing":      testBadInput,
		"TaskStateMachine":           testTaskStateMachine,
		"TransitionTaskSequence":     testTransitionTaskSequence,
		"StepStateMachine":           testStepStateMachine,
		"StepCompareAndSetRace":      testStepRace,
		"TaskCompareAndSetRace":      testTaskRace,
		"ClaimNeverTwice":            testClaimNeverTwice,
		"StartLeaseClock":            testStartLeaseClock,
		"ClaimRespectsLimit":         testClaimRespectsLimit,
		"ClaimSkipsFinishedTasks":    testClaimSkipsFinishedTasks,
		"ClaimByHandler":             testClaimByHandler,
		"ClaimByQueueAndPriority":    testClaimByQueueAndPriority,
		"ConcurrencyGroups":          testConcurrencyGroups,
		"RateLimits":                 testRateLimits,
		"UndeclaredRateSystem":       testUndeclaredRateSystem,
		"DependencyCounters":         testDependencyCounters,
		"FinishAndClaimTogether":     testFinishAndClaim,
		"FinishStepsContradictions":  testFinishStepsContradictions,
		"FinishedChildWakesParent":   testChildWakesParent,
		"RecordAttempts":             testRecordAttempts,
		"FinishWithHeldRecords":      testFinishWithHeldRecords,
		"RecordAttemptsAsRecordStep": testRecordAttemptsAsRecordStep,
		"DurableAttemptStartedAt":    testRecordedAttemptStartsWhenItRan,
		"RecordAttemptsRefusals":     testRecordAttemptsRefusals,
		"RecordAttemptsEachAtItsNow": testRecordAttemptsEachAtItsNow,
		"LeaseExpiry":                testLeaseExpiry,
		"StaleLeaseRejected":         testStaleLease,
		"RetryBackoffAndExhaustion":  testRetryExhaustion,
		"NotRetryableRunsOnce":       testNotRetryable,
		"PermanentFailure":           testPermanentFailure,
		"CancelTask":                 testCancelTask,
		"RetryTask":                  testRetryTask,
		"RetryAndCancelBadInput":     testRetryAndCancelBadInput,
		"TaskIDsRefused":             testTaskIDsRefused,
		"ResolveStep":                testResolveStep,
		"ResolveStepTaskMoves":       testResolveStepTaskMoves,
		"OperatorMetaOnConsequences": testOperatorMetaOnConsequences,
		"ExtendAndReleaseLeases":     testExtendAndRelease,
		"ExtendLeasesBadTTL":         testExtendLeasesBadTTL,
		"ReleaseLeasesBadInput":      testReleaseLeasesBadInput,
		"ClaimLimitTooLarge":         testClaimLimitTooLarge,
		"NilParamsRefused":           testNilParamsRefused,
		"IDsBelowOneRefused":         testIDsBelowOneRefused,
		"RescueExpiredBadLimit":      testRescueExpiredBadLimit,
		"RescueFailsOverdueTasks":    testRescueFailsOverdueTasks,
		"RescueRecordsExpiredCause":  testRescueRecordsTheExpiredCause,
		"Pagination":                 testPagination,
		"HostileAndUnicodeNames":     testHostileNames,
		"JSONRoundTrip":              testJSONRoundTrip,
		"PayloadLimits":              testPayloadLimits,
		"Events":                     testEvents,
		"EventsConsumedOnce":         testEventsConsumedOnce,
		"MoveEvents":                 testMoveEvents,
		"SendAndMoveEventsSerialize": testSendAndMoveEventsSerialize,
		"HasEvent":                   testHasEvent,
		"WakeHoldsAReadyDriver":      testWakeHoldsAReadyDriver,
		"CountByStateAndNextWakeup":  testCountsAndWakeup,
		"TransactionalCreate":        testTransactionalCreate,
		"HistoryMatchesCurrentState": testHistoryMatches,
		"DeleteFinished":             testDeleteFinished,
		"DeleteFinishedOwnRetention": testDeleteFinishedOwnRetention,
		"DeleteFinishedChildren":     testDeleteFinishedKeepsChildren,
		"DeleteFinishedParents":      testDeleteFinishedKeepsParents,
		"ListOrphans":                testListOrphans,
		"StepSuccessRate":            testStepSuccessRate,
		"StepSuccessRateOfWorkflow":  testStepSuccessRateOfOneWorkflow,
		"ReportData":                 testReportData,
		"LeaderElection":             testLeaderElection,
		"RecordStep":                 testRecordStep,
		"SuspendAndWake":             testSuspendAndWake,
		"WakeLeavesADelayedStart":    testWakeLeavesADelayedStart,
		"WorkflowValues":             testWorkflowValues,
		"RetireIdentity":             testRetireIdentity,
		"WorkflowHistory":            testWorkflowHistory,
		"WorkerRegistry":             testWorkerRegistry,
		"WorkerRegistryBadInput":     testWorkerRegistryBadInput,
		"AdminTokens":                testAdminTokens,
		"QueueLags":                  testQueueLags,
		"QueueLagsOfFailedTasks":     testQueueLagsOfFailedTasks,
		"TaskActivity":               testTaskActivity,
		"ListFilters":                testListFilters,
		"CreatedWindowsExact":        testCreatedWindowsExact,
		"ListTasksBadParams":         testListTasksBadParams,
		"ListByFailed":               testListByFailed,
		"ResolveStepOfFinishedTask":  testResolveStepOfFinishedTask,
		"ResolveFailedCodeDriver":    testResolveDriverOfFailedCodeTask,
		"RescueRacesCompletion":      testRescueRacesCompletion,
		"StartLease":                 testStartLease,
		"ClaimedDeps":                testClaimedDeps,
		"SuspendWakesOnFinishedTask": testSuspendWakesOnFinishedTask,
		"Schedules":                  testSchedules,
		"ClaimUnblockedOnly":         testClaimUnblockedOnly,
		"ClaimUnblockedRoom":         testClaimUnblockedRoom,
		"ClaimUnblockedInputs":       testClaimUnblockedInputs,
		"GetTasks":                   testGetTasks,
		"StaleAndLiveInOneGroup":     testStaleAndLiveInOneGroup,
		"RetryClaimedInSameCommit":   testRetryClaimedInSameCommit,
		"ImpliedTransitions":         testImpliedTransitions,
		"ImpliedDurableTransitions":  testImpliedDurableTransitions,
		"ImpliedBeforeSkewedRows":    testImpliedBeforeSkewedRows,
		"ImpliedStartAtItsClaim":     testImpliedStartAtItsClaim,
		"FinishWatched":              testFinishWatched,
		"TasksDone":                  testTasksDone,
		"FailuresInOneGroup":         testFailuresInOneGroup,
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, &bundle{s: newStore(t), ctx: context.Background(), now: time.Now().UTC().Truncate(time.Millisecond)})
		})
	}
}

// bundle is what every case works with.
type bundle struct {
	s   store.Store
	ctx context.Context
	now time.Time
	seq int
	// retention is the Retention of the tasks params makes.
	retention time.Duration
	// parent is the ParentID of the tasks params makes (0: none).
	parent int64
}

// chain returns steps a→b→c… with the given names.
func chain(names ...string) []store.NewStep {
	steps := make([]store.NewStep, len(names))
	for i, n := range names {
		steps[i] = store.NewStep{Name: n, Handler: "h." + n, Retryable: true}
		if i > 0 {
			steps[i].DependsOn = []string{names[i-1]}
		}
	}
	return steps
}

// diamond returns a → (b, c) → d.
func diamond() []store.NewStep {
	return []store.NewStep{
		{Name: "a", Handler: "h.a", Retryable: true},
		{Name: "b", Handler: "h.b", Retryable: true, DependsOn: []string{"a"}},
		{Name: "c", Handler: "h.c", Retryable: true, DependsOn: []string{"a"}},
		{Name: "d", Handler: "h.d", Retryable: true, DependsOn: []string{"b", "c"}},
	}
}

func (b *bundle) params(steps []store.NewStep) *store.CreateTaskParams {
	b.seq++
	return &store.CreateTaskParams{
		Namespace: "test", Name: "flow", Version: "1.0.0", Kind: store.KindDAG,
		IdentityKey: fmt.Sprintf("key-%d-%d", b.seq, time.Now().UnixNano()), InputHash: "h",
		Context: store.JSON(`{"n":1}`), Steps: steps, Now: b.now, Retention: b.retention, ParentID: b.parentID(),
	}
}

// parentID is b.parent as CreateTaskParams.ParentID.
func (b *bundle) parentID() *int64 {
	if b.parent == 0 {
		return nil
	}
	id := b.parent
	return &id
}

func (b *bundle) create(t *testing.T, steps []store.NewStep) *store.TaskDetail {
	t.Helper()
	res, err := b.s.CreateTask(b.ctx, b.params(steps))
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	return b.get(t, res.Task.ID)
}

func (b *bundle) get(t *testing.T, id int64) *store.TaskDetail {
	t.Helper()
	d, err := b.s.GetTask(b.ctx, id)
	if err != nil {
		t.Fatalf("GetTask(%d): %v", id, err)
	}
	return d
}

func (b *bundle) claim(t *testing.T, limit int) []*store.ClaimedStep {
	t.Helper()
	got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "worker-1", Limit: limit, LeaseTTL: time.Minute, Now: b.now})
	if err != nil {
		t.Fatalf("ClaimSteps: %v", err)
	}
	return got
}

func (b *bundle) claimOne(t *testing.T, name string) *store.ClaimedStep {
	t.Helper()
	got := b.claim(t, 100)
	if len(got) != 1 || got[0].Step.Name != name {
		t.Fatalf("claimed %v, want exactly step %q", names(got), name)
	}
	return got[0]
}

func (b *bundle) finish(t *testing.T, outcomes ...store.StepOutcome) *store.FinishStepsResult {
	t.Helper()
	res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: outcomes, Now: b.now})
	if err != nil {
		t.Fatalf("FinishSteps: %v", err)
	}
	return res
}

func complete(c *store.ClaimedStep, results string) store.StepOutcome {
	return store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeComplete, Results: store.JSON(results)}
}

func names(cs []*store.ClaimedStep) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Step.Name
	}
	return out
}

func wantErr(t *testing.T, err, target error, contains ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Fatalf("error %q does not mention %q", err, c)
		}
	}
}

func (b *bundle) totals(t *testing.T) (tasks, steps int) {
	t.Helper()
	c, err := b.s.CountByState(b.ctx)
	if err != nil {
		t.Fatalf("CountByState: %v", err)
	}
	for _, n := range c.Tasks {
		tasks += n
	}
	for _, n := range c.Steps {
		steps += n
	}
	return tasks, steps
}

func stepState(t *testing.T, b *bundle, id int64) store.StepState {
	t.Helper()
	st, err := b.s.GetStep(b.ctx, id)
	if err != nil {
		t.Fatalf("GetStep(%d): %v", id, err)
	}
	return st.State
}
