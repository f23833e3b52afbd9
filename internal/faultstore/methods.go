package faultstore

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

var _ store.Store = (*Store)(nil)
var _ store.Waker = (*wakingStore)(nil)

// DB is the wrapped store's database.
func (s *Store) DB() *bun.DB { return s.inner.DB() }

// WithTx wraps the wrapped store's WithTx view with the same rules.
func (s *Store) WithTx(tx bun.IDB) store.Store { return &Store{inner: s.inner.WithTx(tx), st: s.st} }

// Capabilities are the wrapped store's.
func (s *Store) Capabilities() store.Capabilities { return s.inner.Capabilities() }

// Close closes the wrapped store.
func (s *Store) Close() error { return s.inner.Close() }

// AnnounceDone and TaskDone pass through to the wrapped store when it has
// them (the engine's cross-process task waiters).
func (s *Store) AnnounceDone() {
	if d, ok := s.inner.(interface{ AnnounceDone() }); ok {
		d.AnnounceDone()
	}
}

// TaskDone: see AnnounceDone.
func (s *Store) TaskDone() (<-chan struct{}, func()) {
	if d, ok := s.inner.(interface {
		TaskDone() (<-chan struct{}, func())
	}); ok {
		return d.TaskDone()
	}
	return nil, func() {}
}

// HeldUntil passes through to the wrapped store when it has it.
func (s *Store) HeldUntil() (time.Time, bool) {
	if h, ok := s.inner.(interface{ HeldUntil() (time.Time, bool) }); ok {
		return h.HeldUntil()
	}
	return time.Time{}, false
}

func (s *Store) CreateTask(ctx context.Context, p *store.CreateTaskParams) (*store.CreateTaskResult, error) {
	return do(ctx, s, "CreateTask", func() (*store.CreateTaskResult, error) { return s.inner.CreateTask(ctx, p) })
}

func (s *Store) CreateTasks(ctx context.Context, ps []*store.CreateTaskParams) ([]store.CreateTasksItem, error) {
	return do(ctx, s, "CreateTasks", func() ([]store.CreateTasksItem, error) { return s.inner.CreateTasks(ctx, ps) })
}

func (s *Store) GetTask(ctx context.Context, id int64) (*store.TaskDetail, error) {
	return do(ctx, s, "GetTask", func() (*store.TaskDetail, error) { return s.inner.GetTask(ctx, id) })
}

func (s *Store) GetTaskByIdentity(ctx context.Context, key string) (*store.Task, error) {
	return do(ctx, s, "GetTaskByIdentity", func() (*store.Task, error) { return s.inner.GetTaskByIdentity(ctx, key) })
}

func (s *Store) ListTasks(ctx context.Context, p *store.ListTasksParams) (*store.TaskPage, error) {
	return do(ctx, s, "ListTasks", func() (*store.TaskPage, error) { return s.inner.ListTasks(ctx, p) })
}

func (s *Store) CountByState(ctx context.Context) (*store.StateCounts, error) {
	return do(ctx, s, "CountByState", func() (*store.StateCounts, error) { return s.inner.CountByState(ctx) })
}

func (s *Store) TransitionTask(ctx context.Context, p *store.TransitionTaskParams) (*store.Task, error) {
	return do(ctx, s, "TransitionTask", func() (*store.Task, error) { return s.inner.TransitionTask(ctx, p) })
}

func (s *Store) CancelTask(ctx context.Context, p *store.CancelTaskParams) (*store.Task, error) {
	return do(ctx, s, "CancelTask", func() (*store.Task, error) { return s.inner.CancelTask(ctx, p) })
}

func (s *Store) RetryTask(ctx context.Context, p *store.RetryTaskParams) (*store.Task, error) {
	return do(ctx, s, "RetryTask", func() (*store.Task, error) { return s.inner.RetryTask(ctx, p) })
}

func (s *Store) History(ctx context.Context, taskID int64) (*store.History, error) {
	return do(ctx, s, "History", func() (*store.History, error) { return s.inner.History(ctx, taskID) })
}

func (s *Store) GetStep(ctx context.Context, id int64) (*store.Step, error) {
	return do(ctx, s, "GetStep", func() (*store.Step, error) { return s.inner.GetStep(ctx, id) })
}

func (s *Store) TransitionStep(ctx context.Context, p *store.TransitionStepParams) (*store.Step, error) {
	return do(ctx, s, "TransitionStep", func() (*store.Step, error) { return s.inner.TransitionStep(ctx, p) })
}

func (s *Store) ResolveStep(ctx context.Context, p *store.ResolveStepParams) (*store.ResolveStepResult, error) {
	return do(ctx, s, "ResolveStep", func() (*store.ResolveStepResult, error) { return s.inner.ResolveStep(ctx, p) })
}

func (s *Store) ClaimSteps(ctx context.Context, p *store.ClaimStepsParams) ([]*store.ClaimedStep, error) {
	return do(ctx, s, "ClaimSteps", func() ([]*store.ClaimedStep, error) { return s.inner.ClaimSteps(ctx, p) })
}

func (s *Store) FinishSteps(ctx context.Context, p *store.FinishStepsParams) (*store.FinishStepsResult, error) {
	return do(ctx, s, "FinishSteps", func() (*store.FinishStepsResult, error) { return s.inner.FinishSteps(ctx, p) })
}

func (s *Store) ExtendLeases(ctx context.Context, p *store.ExtendLeasesParams) ([]store.Lease, error) {
	return do(ctx, s, "ExtendLeases", func() ([]store.Lease, error) { return s.inner.ExtendLeases(ctx, p) })
}

func (s *Store) ReleaseLeases(ctx context.Context, p *store.ReleaseLeasesParams) (int, error) {
	return do(ctx, s, "ReleaseLeases", func() (int, error) { return s.inner.ReleaseLeases(ctx, p) })
}

func (s *Store) RescueExpired(ctx context.Context, p *store.RescueExpiredParams) (*store.RescueResult, error) {
	return do(ctx, s, "RescueExpired", func() (*store.RescueResult, error) { return s.inner.RescueExpired(ctx, p) })
}

func (s *Store) NextWakeup(ctx context.Context) (time.Time, bool, error) {
	type next struct {
		at time.Time
		ok bool
	}
	v, err := do(ctx, s, "NextWakeup", func() (next, error) {
		at, ok, err := s.inner.NextWakeup(ctx)
		return next{at, ok}, err
	})
	return v.at, v.ok, err
}

func (s *Store) SendEvent(ctx context.Context, p *store.SendEventParams) (*store.Event, bool, error) {
	type sent struct {
		ev  *store.Event
		new bool
	}
	v, err := do(ctx, s, "SendEvent", func() (sent, error) {
		ev, created, err := s.inner.SendEvent(ctx, p)
		return sent{ev, created}, err
	})
	return v.ev, v.new, err
}

func (s *Store) ConsumeEvent(ctx context.Context, p *store.ConsumeEventParams) (*store.Event, error) {
	return do(ctx, s, "ConsumeEvent", func() (*store.Event, error) { return s.inner.ConsumeEvent(ctx, p) })
}

func (s *Store) HasEvent(ctx context.Context, taskID int64, name, key string) (bool, error) {
	return do(ctx, s, "HasEvent", func() (bool, error) { return s.inner.HasEvent(ctx, taskID, name, key) })
}

func (s *Store) MoveEvents(ctx context.Context, p *store.MoveEventsParams) (int, error) {
	return do(ctx, s, "MoveEvents", func() (int, error) { return s.inner.MoveEvents(ctx, p) })
}

func (s *Store) DeleteFinished(ctx context.Context, p *store.DeleteFinishedParams) (int, error) {
	return do(ctx, s, "DeleteFinished", func() (int, error) { return s.inner.DeleteFinished(ctx, p) })
}

func (s *Store) ListOrphans(ctx context.Context, p *store.ListOrphansParams) ([]store.Orphan, error) {
	return do(ctx, s, "ListOrphans", func() ([]store.Orphan, error) { return s.inner.ListOrphans(ctx, p) })
}

func (s *Store) StepSuccessRate(ctx context.Context, p *store.StepSuccessRateParams) (*store.StepSuccessRate, error) {
	return do(ctx, s, "StepSuccessRate", func() (*store.StepSuccessRate, error) { return s.inner.StepSuccessRate(ctx, p) })
}

func (s *Store) ReportData(ctx context.Context, p *store.ReportParams) (*store.ReportData, error) {
	return do(ctx, s, "ReportData", func() (*store.ReportData, error) { return s.inner.ReportData(ctx, p) })
}

func (s *Store) Elect(ctx context.Context, p *store.ElectParams) (bool, error) {
	return do(ctx, s, "Elect", func() (bool, error) { return s.inner.Elect(ctx, p) })
}

func (s *Store) Resign(ctx context.Context, name, owner string) error {
	return do0(ctx, s, "Resign", func() error { return s.inner.Resign(ctx, name, owner) })
}

func (s *Store) RecordStep(ctx context.Context, p *store.RecordStepParams) (*store.Step, error) {
	return do(ctx, s, "RecordStep", func() (*store.Step, error) { return s.inner.RecordStep(ctx, p) })
}

func (s *Store) RecordAttempts(ctx context.Context, steps []*store.RecordStepParams) ([]store.RecordedStep, error) {
	return do(ctx, s, "RecordAttempts", func() ([]store.RecordedStep, error) { return s.inner.RecordAttempts(ctx, steps) })
}

func (s *Store) WakeTask(ctx context.Context, p *store.WakeTaskParams) (bool, error) {
	return do(ctx, s, "WakeTask", func() (bool, error) { return s.inner.WakeTask(ctx, p) })
}

func (s *Store) RegisterWorker(ctx context.Context, p *store.RegisterWorkerParams) (*store.Worker, error) {
	return do(ctx, s, "RegisterWorker", func() (*store.Worker, error) { return s.inner.RegisterWorker(ctx, p) })
}

func (s *Store) DeregisterWorker(ctx context.Context, p *store.DeregisterWorkerParams) error {
	return do0(ctx, s, "DeregisterWorker", func() error { return s.inner.DeregisterWorker(ctx, p) })
}

func (s *Store) RateLimitState(ctx context.Context, system string) (*store.RateLimitState, error) {
	return do(ctx, s, "RateLimitState", func() (*store.RateLimitState, error) { return s.inner.RateLimitState(ctx, system) })
}

func (s *Store) RunningInGroup(ctx context.Context, group string) ([]*store.Step, error) {
	return do(ctx, s, "RunningInGroup", func() ([]*store.Step, error) { return s.inner.RunningInGroup(ctx, group) })
}

func (s *Store) ListWorkers(ctx context.Context, p *store.ListWorkersParams) ([]*store.Worker, error) {
	return do(ctx, s, "ListWorkers", func() ([]*store.Worker, error) { return s.inner.ListWorkers(ctx, p) })
}

func (s *Store) CountAdminTokens(ctx context.Context) (int, error) {
	return do(ctx, s, "CountAdminTokens", func() (int, error) { return s.inner.CountAdminTokens(ctx) })
}

func (s *Store) CreateAdminToken(ctx context.Context, p *store.CreateAdminTokenParams) (*store.AdminToken, error) {
	return do(ctx, s, "CreateAdminToken", func() (*store.AdminToken, error) { return s.inner.CreateAdminToken(ctx, p) })
}

func (s *Store) FindAdminToken(ctx context.Context, secret string) (*store.AdminToken, error) {
	return do(ctx, s, "FindAdminToken", func() (*store.AdminToken, error) { return s.inner.FindAdminToken(ctx, secret) })
}

func (s *Store) ListAdminTokens(ctx context.Context) ([]*store.AdminToken, error) {
	return do(ctx, s, "ListAdminTokens", func() ([]*store.AdminToken, error) { return s.inner.ListAdminTokens(ctx) })
}

func (s *Store) QueueLags(ctx context.Context, now time.Time) ([]store.QueueLag, error) {
	return do(ctx, s, "QueueLags", func() ([]store.QueueLag, error) { return s.inner.QueueLags(ctx, now) })
}

func (s *Store) TaskActivity(ctx context.Context, p *store.TaskActivityParams) ([]store.ActivityBucket, error) {
	return do(ctx, s, "TaskActivity", func() ([]store.ActivityBucket, error) { return s.inner.TaskActivity(ctx, p) })
}

func (s *Store) RevokeAdminToken(ctx context.Context, id int64, at time.Time) error {
	return do0(ctx, s, "RevokeAdminToken", func() error { return s.inner.RevokeAdminToken(ctx, id, at) })
}

func (s *Store) GetTaskOutcomes(ctx context.Context, ids []int64) ([]*store.TaskOutcome, error) {
	return do(ctx, s, "GetTaskOutcomes", func() ([]*store.TaskOutcome, error) { return s.inner.GetTaskOutcomes(ctx, ids) })
}

func (s *Store) GetTasks(ctx context.Context, ids []int64) ([]*store.TaskDetail, error) {
	return do(ctx, s, "GetTasks", func() ([]*store.TaskDetail, error) { return s.inner.GetTasks(ctx, ids) })
}

func (s *Store) TasksDone(ctx context.Context, ids []int64) ([]int64, error) {
	return do(ctx, s, "TasksDone", func() ([]int64, error) { return s.inner.TasksDone(ctx, ids) })
}

func (s *Store) GetWorkflowHistory(ctx context.Context, id int64) (*store.TaskDetail, error) {
	return do(ctx, s, "GetWorkflowHistory", func() (*store.TaskDetail, error) { return s.inner.GetWorkflowHistory(ctx, id) })
}

func (s *Store) SetWorkflowValue(ctx context.Context, p *store.SetWorkflowValueParams) error {
	return do0(ctx, s, "SetWorkflowValue", func() error { return s.inner.SetWorkflowValue(ctx, p) })
}

func (s *Store) GetWorkflowValue(ctx context.Context, taskID int64, kind, name string) (*store.WorkflowValue, error) {
	return do(ctx, s, "GetWorkflowValue", func() (*store.WorkflowValue, error) { return s.inner.GetWorkflowValue(ctx, taskID, kind, name) })
}

func (s *Store) RetireIdentity(ctx context.Context, p *store.RetireIdentityParams) (bool, error) {
	return do(ctx, s, "RetireIdentity", func() (bool, error) { return s.inner.RetireIdentity(ctx, p) })
}

func (s *Store) CreateSchedule(ctx context.Context, sc *store.Schedule) error {
	return do0(ctx, s, "CreateSchedule", func() error { return s.inner.CreateSchedule(ctx, sc) })
}

func (s *Store) UpdateSchedule(ctx context.Context, sc *store.Schedule) (bool, error) {
	return do(ctx, s, "UpdateSchedule", func() (bool, error) { return s.inner.UpdateSchedule(ctx, sc) })
}

func (s *Store) GetSchedule(ctx context.Context, id string) (*store.Schedule, error) {
	return do(ctx, s, "GetSchedule", func() (*store.Schedule, error) { return s.inner.GetSchedule(ctx, id) })
}

func (s *Store) ListSchedules(ctx context.Context) ([]*store.Schedule, error) {
	return do(ctx, s, "ListSchedules", func() ([]*store.Schedule, error) { return s.inner.ListSchedules(ctx) })
}

func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	return do0(ctx, s, "DeleteSchedule", func() error { return s.inner.DeleteSchedule(ctx, id) })
}
