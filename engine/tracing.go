package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tasker-go/tasker/engine/internal/completer"
	"github.com/tasker-go/tasker/store"
)

// TracerName is the instrumentation scope of the engine's spans.
const TracerName = "github.com/tasker-go/tasker/engine"

// The attributes of the engine's spans.
const (
	attrWorkflow  = attribute.Key("tasker.workflow")         // "namespace/name"
	attrVersion   = attribute.Key("tasker.workflow.version") // the template's version
	attrTaskID    = attribute.Key("tasker.task.id")
	attrStep      = attribute.Key("tasker.step")
	attrSequence  = attribute.Key("tasker.step.sequence") // durable steps and waits of code-first workflows
	attrAttempt   = attribute.Key("tasker.attempt")
	attrQueue     = attribute.Key("tasker.queue")
	attrOutcome   = attribute.Key("tasker.outcome")    // as the metrics' outcome label; tasks: complete, error, cancelled
	attrErrorKind = attribute.Key("tasker.error.kind") // the failure's Kind (see StepError)
	attrExisting  = attribute.Key("tasker.existing")   // a start that found its task by identity
)

// tracerOf is the engine's tracer: Config.TracerProvider, else the global
// one (a no-op until the application installs an SDK with
// otel.SetTracerProvider, before or after New). A provider that panics
// making it (a zero sdktrace.TracerProvider, written as a literal) is an
// error: New panicked.
func tracerOf(tp trace.TracerProvider) (_ trace.Tracer, err error) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("config: TracerProvider %T panicked making the engine's tracer (%v): make it with its constructor (sdktrace.NewTracerProvider)", tp, r)
		}
	}()
	return tp.Tracer(TracerName), nil
}

// traceparent is sc as a W3C traceparent header value, or "" when sc is
// not valid (nothing is traced): the task then stores NULL.
func traceparent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// remoteParent is ctx carrying the span context stored with a task, so
// spans started from it continue the starter's trace; ctx as it is when
// the task has none.
func remoteParent(ctx context.Context, t *store.Task) context.Context {
	if t == nil || t.TraceContext == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": t.TraceContext})
}

// traceStart opens the span of a Start (a producer span, child of the
// caller's) and stores its context in p, for the processes that will run
// the task's steps.
func (e *Engine) traceStart(ctx context.Context, p *store.CreateTaskParams) (context.Context, trace.Span) {
	ctx, span := e.tracer.Start(ctx, "tasker.start "+p.Namespace+"/"+p.Name, trace.WithSpanKind(trace.SpanKindProducer))
	p.TraceContext = traceparent(span.SpanContext())
	if span.IsRecording() {
		span.SetAttributes(attrWorkflow.String(p.Namespace+"/"+p.Name), attrVersion.String(p.Version), attrQueue.String(p.Queue))
	}
	return ctx, span
}

// endStart ends a Start's span with what became of it.
func endStart(span trace.Span, res *store.CreateTaskResult, err error) {
	if span.IsRecording() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else if res != nil && res.Task != nil {
			span.SetAttributes(attrTaskID.Int64(res.Task.ID), attrExisting.Bool(res.Existing))
		}
	}
	span.End()
}

// traceAttempt opens the span of one attempt of a claimed step (a
// consumer span under the task's stored trace context). Handlers run
// under it, so their own spans, and a code-first workflow's durable steps,
// nest below it.
func (e *Engine) traceAttempt(ctx context.Context, c *store.ClaimedStep) (context.Context, trace.Span) {
	st := c.Step
	name := "tasker.step " + st.Name
	if st.Name == DriverStep && c.Task != nil && c.Task.Kind == store.KindCode {
		name = "tasker.workflow " + c.Task.Namespace + "/" + c.Task.Name
	}
	ctx, span := e.tracer.Start(remoteParent(ctx, c.Task), name, trace.WithSpanKind(trace.SpanKindConsumer))
	if span.IsRecording() {
		attrs := []attribute.KeyValue{attrTaskID.Int64(st.TaskID), attrStep.String(st.Name), attrAttempt.Int(st.Attempts), attrQueue.String(st.Queue)}
		if t := c.Task; t != nil {
			attrs = append(attrs, attrWorkflow.String(t.Namespace+"/"+t.Name), attrVersion.String(t.Version))
		}
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// endAttempt ends an attempt's span with its outcome.
func endAttempt(span trace.Span, o *completer.Outcome, kept bool) {
	if span.IsRecording() {
		outcome := outcomeLabel(o, kept)
		span.SetAttributes(attrOutcome.String(outcome))
		if outcome == "error" || outcome == "permanent" {
			failed(span, o.Error)
		}
	}
	span.End()
}

// failed marks span as failed with a recorded failure document.
func failed(span trace.Span, doc store.JSON) {
	var f struct {
		Kind    string `json:"kind"`
		Message string `json:"error"`
	}
	_ = json.Unmarshal(doc, &f)
	if f.Kind != "" {
		span.SetAttributes(attrErrorKind.String(f.Kind))
	}
	span.SetStatus(codes.Error, f.Message)
}

// traceTaskEnd records the span of a whole task run, from its creation to
// now, when it has ended: the process that commits the end emits it,
// under the task's stored trace context (beside the step attempts' spans,
// whose parent is the same start span).
func (e *Engine) traceTaskEnd(ctx context.Context, t *store.Task, to store.TaskState, lastError store.JSON) {
	if t == nil {
		return
	}
	_, span := e.tracer.Start(remoteParent(ctx, t), "tasker.task "+t.Namespace+"/"+t.Name, trace.WithTimestamp(t.CreatedAt))
	if span.IsRecording() {
		outcome := "complete"
		switch to {
		case store.TaskError:
			outcome = "error"
		case store.TaskCancelled:
			outcome = "cancelled"
		case store.TaskResolvedManually:
			outcome = "resolved_manually"
		}
		span.SetAttributes(attrWorkflow.String(t.Namespace+"/"+t.Name), attrVersion.String(t.Version), attrTaskID.Int64(t.ID),
			attrQueue.String(t.Queue), attrOutcome.String(outcome))
		if to == store.TaskError {
			failed(span, lastError)
		}
	}
	span.End(trace.WithTimestamp(time.Now()))
}

// traceWait records the span of a code-first wait (a sleep, an event
// wait, a child) that has ended: from when it was first recorded to now,
// under the run of the workflow that saw it end.
func (w *WorkflowContext) traceWait(name string, seq int, since time.Time, err error) {
	if w.replay {
		return
	}
	_, span := w.e.tracer.Start(w.Context, name, trace.WithTimestamp(since))
	if span.IsRecording() {
		span.SetAttributes(attrWorkflow.String(w.Workflow), attrVersion.String(w.version), attrTaskID.Int64(w.TaskID), attrSequence.Int(seq))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// traceStep opens the span of one attempt of a durable step, under the
// workflow run's span.
func (w *WorkflowContext) traceStep(name string, seq, attempt int) (context.Context, trace.Span) {
	ctx, span := w.e.tracer.Start(w.Context, "tasker.step "+name)
	if span.IsRecording() {
		span.SetAttributes(attrWorkflow.String(w.Workflow), attrVersion.String(w.version), attrTaskID.Int64(w.TaskID), attrStep.String(name), attrSequence.Int(seq),
			attrAttempt.Int(attempt), attrQueue.String(w.queue))
	}
	return ctx, span
}

// durableOutcome is what became of a durable step's attempt, for its span.
type durableOutcome struct {
	outcome string // as the metrics' label
	err     store.JSON
}

func endDurable(span trace.Span, o *durableOutcome) {
	if span.IsRecording() {
		span.SetAttributes(attrOutcome.String(o.outcome))
		if len(o.err) > 0 {
			failed(span, o.err)
		}
	}
	span.End()
}
