package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/testkit"
)

// xorCodec is a reversible test codec: it XORs every byte, so nothing of
// the JSON stays readable, and pads each payload by pad bytes.
type xorCodec struct {
	name     string
	pad      int
	enc, dec atomic.Int64
}

func (c *xorCodec) Name() string { return c.name }

func (c *xorCodec) Encode(doc []byte) ([]byte, error) {
	c.enc.Add(1)
	out := make([]byte, len(doc), len(doc)+c.pad)
	for i, b := range doc {
		out[i] = b ^ 0x5a
	}
	return append(out, make([]byte, c.pad)...), nil
}

func (c *xorCodec) Decode(data []byte) ([]byte, error) {
	c.dec.Add(1)
	if len(data) < c.pad {
		return nil, errors.New("short payload")
	}
	data = data[:len(data)-c.pad]
	out := make([]byte, len(data))
	for i, b := range data {
		out[i] = b ^ 0x5a
	}
	return out, nil
}

const secret = "s3cret-payload"

// codecFlows registers a DAG whose steps pass the secret along and a
// code-first workflow that touches every kind of payload: input, durable
// step, event, query state, update answer, child workflow.
func codecFlows(t *testing.T, e *engine.Engine) {
	t.Helper()
	must(t, e.HandleFunc("first", func(sc *engine.StepContext) (any, error) {
		var in map[string]string
		if err := sc.Input(&in); err != nil {
			return nil, err
		}
		return in["secret"] + "/first", nil
	}))
	must(t, e.HandleFunc("second", func(sc *engine.StepContext) (any, error) {
		prev, err := engine.Result[string](sc, "first")
		return prev + "/second", err
	}))
	must(t, e.Register(&engine.Template{Namespace: "c", Name: "dag", Steps: []engine.StepTemplate{
		{Name: "first", Handler: "first"}, {Name: "second", Handler: "second", DependsOn: []string{"first"}}}}))
	must(t, engine.RegisterWorkflow(e, "c/child", func(w *engine.WorkflowContext, in string) (string, error) { return in + "/child", nil }))
	must(t, engine.RegisterWorkflow(e, "c/code", func(w *engine.WorkflowContext, in string) (string, error) {
		s, err := engine.Step(w, "step", func(ctx context.Context) (string, error) { return in + "/step", nil })
		if err != nil {
			return "", err
		}
		if err := engine.SetQueryState(w, "state", s); err != nil {
			return "", err
		}
		ev, err := engine.WaitEvent[string](w, "go", time.Hour)
		if err != nil {
			return "", err
		}
		req, err := engine.ReceiveUpdate[string](w, "ask", time.Hour)
		if err != nil {
			return "", err
		}
		if err := req.Reply(w, req.Arg+"/answer", nil); err != nil {
			return "", err
		}
		c, err := engine.Child[string](w, "c/child", ev)
		return c + "+" + s, err
	}))
}

// With a codec every payload is stored encoded — no trace of the secret in
// any payload column — and every reader gets it back: handlers, Wait,
// workflow replays, events, queries, updates, children. The same input
// twice is still one task (the identity is the JSON's hash).
func TestCodecEncodesEveryPayload(t *testing.T) {
	codec := &xorCodec{name: "xor/v1"}
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: codec}})
	codecFlows(t, env.Engine)
	ctx := context.Background()

	h, err := env.Start(ctx, "c/dag", map[string]string{"secret": secret})
	must(t, err)
	again, err := env.Start(ctx, "c/dag", map[string]string{"secret": secret})
	must(t, err)
	if !again.Existing || again.TaskID != h.TaskID {
		t.Fatal("the same input started twice made two tasks")
	}
	env.RunUntilDone(h.TaskID)
	out, err := h.Wait(ctx)
	must(t, err)
	var final string
	must(t, out.DecodeFinal(&final))
	if final != secret+"/first/second" {
		t.Fatalf("DAG result %q", final)
	}

	wf, err := engine.StartWorkflow[string, string](ctx, env.Engine, "c/code", secret)
	must(t, err)
	for range 2 {
		_, err = env.RunOnce(ctx)
		must(t, err)
	}
	if v, err := engine.Query[string](ctx, env.Engine, wf.TaskID, "state"); err != nil || v != secret+"/step" {
		t.Fatalf("query: %q %v", v, err)
	}
	env.SendEvent(wf.TaskID, "go", "", secret+"/event")
	answer := make(chan string, 1)
	go func() {
		v, err := engine.Update[string](ctx, env.Engine, wf.TaskID, "ask", "u1", secret+"/update")
		if err != nil {
			v = err.Error()
		}
		answer <- v
	}()
	for {
		select {
		case v := <-answer:
			if v != secret+"/update/answer" {
				t.Fatalf("update answer %q", v)
			}
			env.RunUntilDone(wf.TaskID)
			res, err := wf.Result(ctx)
			must(t, err)
			if want := secret + "/event/child+" + secret + "/step"; res != want {
				t.Fatalf("workflow result %q, want %q", res, want)
			}
			must(t, env.Replay(ctx, wf.TaskID))
			hist, err := env.WorkflowHistory(ctx, wf.TaskID)
			must(t, err)
			if !strings.Contains(string(hist.Input), secret) {
				t.Fatalf("the history's input is not decoded: %s", hist.Input)
			}
			assertNoPlaintext(t, env)
			if codec.enc.Load() == 0 || codec.dec.Load() == 0 {
				t.Fatal("the codec was not used")
			}
			return
		default:
			_, err := env.RunOnce(ctx)
			must(t, err)
			env.Clock.Advance(time.Second)
		}
	}
}

// assertNoPlaintext reads every payload column and fails on the secret;
// each holds envelopes only.
func assertNoPlaintext(t *testing.T, env *testkit.Env) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		"SELECT context FROM tasker_tasks",
		"SELECT results FROM tasker_steps WHERE results IS NOT NULL AND results <> 'null'",
		"SELECT payload FROM tasker_events",
		"SELECT value FROM tasker_workflow_values",
	} {
		var docs []string
		must(t, env.Store.DB().NewRaw(q).Scan(ctx, &docs))
		if len(docs) == 0 {
			t.Fatalf("%s: no rows", q)
		}
		for _, d := range docs {
			if strings.Contains(d, "s3cret") {
				t.Fatalf("%s: plaintext stored: %s", q, d)
			}
			if !strings.Contains(d, `"tasker:codec"`) {
				t.Fatalf("%s: not an envelope: %s", q, d)
			}
		}
	}
}

// The payload limit applies to what is stored: an input, an event and a
// result that fit as JSON but not once encoded are refused (the result
// fails its step), with nothing stored.
func TestCodecPayloadLimitOnEncodedBytes(t *testing.T) {
	codec := &xorCodec{name: "xor/v1", pad: 600}
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: codec, MaxPayloadBytes: 512}})
	codecFlows(t, env.Engine)
	ctx := context.Background()
	_, err := env.Start(ctx, "c/dag", map[string]string{"secret": secret})
	if !errors.Is(err, engine.ErrPayloadTooLarge) {
		t.Fatalf("an input over the limit once encoded: %v", err)
	}
	counts, err := env.Store.CountByState(ctx)
	must(t, err)
	if len(counts.Tasks) != 0 {
		t.Fatalf("a refused start stored a task: %v", counts.Tasks)
	}
	// A result that fits as JSON (162 bytes) but not once encoded (its
	// envelope is over 250) fails its step.
	env2 := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: &xorCodec{name: "xor/v1"}, MaxPayloadBytes: 200}})
	must(t, env2.HandleFunc("big", func(sc *engine.StepContext) (any, error) { return strings.Repeat("y", 160), nil }))
	must(t, env2.Register(&engine.Template{Namespace: "c", Name: "big", Steps: []engine.StepTemplate{{Name: "big", Handler: "big"}}}))
	h, err := env2.Start(ctx, "c/big", nil)
	must(t, err)
	env2.RunUntilDone(h.TaskID)
	out, err := h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskError || !strings.Contains(string(out.Error), "payload_too_large") {
		t.Fatalf("a result over the limit once encoded: %s %s", out.State, out.Error)
	}
	// An event payload likewise.
	must(t, engine.RegisterWorkflow(env2.Engine, "c/wait", func(w *engine.WorkflowContext, in string) (string, error) {
		return engine.WaitEvent[string](w, "go", time.Hour)
	}))
	wf, err := engine.StartWorkflow[string, string](ctx, env2.Engine, "c/wait", "x")
	must(t, err)
	if _, err := env2.Engine.SendEvent(ctx, wf.TaskID, "go", "", strings.Repeat("z", 160)); !errors.Is(err, engine.ErrPayloadTooLarge) {
		t.Fatalf("an event payload over the limit once encoded: %v", err)
	}
}

// An engine without the codec, or with another one, refuses encoded
// payloads with ErrCodec instead of handing envelopes to the code.
func TestCodecMismatchRefused(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: &xorCodec{name: "xor/v1"}}})
	codecFlows(t, env.Engine)
	ctx := context.Background()
	h, err := env.Start(ctx, "c/dag", map[string]string{"secret": secret})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	for _, c := range []engine.Codec{nil, &xorCodec{name: "xor/v2"}} {
		other, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock, WorkerID: "other", Codec: c})
		must(t, err)
		if _, err := other.Wait(ctx, h.TaskID); !errors.Is(err, engine.ErrCodec) || !strings.Contains(err.Error(), "xor/v1") {
			t.Fatalf("codec %v: Wait = %v, want ErrCodec naming xor/v1", c, err)
		}
	}
	// A payload of the application's that happens to mention the marker
	// is not an envelope.
	plain := testkit.NewEngine(t, &testkit.Options{File: true})
	codecFlows(t, plain.Engine)
	odd := fmt.Sprintf(`{"secret": "%s", "note": "tasker:codec"}`, secret)
	h2, err := plain.Start(ctx, "c/dag", []byte(odd))
	must(t, err)
	plain.RunUntilDone(h2.TaskID)
	out, err := plain.Wait(ctx, h2.TaskID)
	must(t, err)
	if out.State != store.TaskComplete || !bytes.Contains(out.Results["second"], []byte(secret)) {
		t.Fatalf("a payload mentioning the marker: %s %s", out.State, out.Results)
	}
}

// On PostgreSQL, whose JSONB reorders the envelope's keys, a DAG and a
// code-first workflow with an event run through a running engine with a
// codec, and the rows hold envelopes only.
func TestCodecOnPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t)})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	e, err := engine.New(engine.Config{Store: s, Codec: &xorCodec{name: "xor/v1"}, Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	must(t, err)
	codecFlows(t, e)
	must(t, engine.RegisterWorkflow(e, "c/wait", func(w *engine.WorkflowContext, in string) (string, error) {
		ev, err := engine.WaitEvent[string](w, "go", time.Minute)
		return in + "+" + ev, err
	}))
	run(t, e)
	h, err := e.Start(ctx, "c/dag", map[string]string{"secret": secret})
	must(t, err)
	out, err := h.Wait(ctx)
	must(t, err)
	var final string
	must(t, out.DecodeFinal(&final))
	if final != secret+"/first/second" {
		t.Fatalf("DAG result %q (%s)", final, out.State)
	}
	wf, err := engine.StartWorkflow[string, string](ctx, e, "c/wait", secret)
	must(t, err)
	_, err = e.SendEvent(ctx, wf.TaskID, "go", "", "event")
	must(t, err)
	if v, err := wf.Result(ctx); err != nil || v != secret+"+event" {
		t.Fatalf("workflow result %q, %v", v, err)
	}
	for _, q := range []string{"SELECT context::text FROM tasker_tasks", "SELECT results::text FROM tasker_steps WHERE results IS NOT NULL", "SELECT payload::text FROM tasker_events"} {
		var docs []string
		must(t, s.DB().NewRaw(q).Scan(ctx, &docs))
		for _, d := range docs {
			if strings.Contains(d, "s3cret") || !strings.Contains(d, `"tasker:codec"`) {
				t.Fatalf("%s: %s", q, d)
			}
		}
	}
}

// TestCodecWithoutANameRefused: Config.Validate (and New) refuse a Codec
// whose Name is empty, or a nil pointer: an envelope with an empty codec
// name reads as the application's own payload, so New accepted it and
// every handler, Wait and Result got the envelope ({"tasker:codec":"",
// "data":…}) in place of the JSON it carried.
func TestCodecWithoutANameRefused(t *testing.T) {
	for _, c := range []struct {
		codec engine.Codec
		want  string
	}{
		{&xorCodec{}, `config: Codec's Name() is empty`},
		{(*xorCodec)(nil), `config: Codec is a nil *engine_test.xorCodec`},
		// Stored in every envelope: a NUL is refused by the store (every
		// write failed), invalid UTF-8 is stored replaced (every read
		// failed as another codec's).
		{&xorCodec{name: "xor\x00v1"}, `config: Codec's Name() "xor\x00v1" contains a NUL byte`},
		{&xorCodec{name: "xor\xffv1"}, `config: Codec's Name() "xor\xffv1" is not valid UTF-8`},
	} {
		err := (&engine.Config{Codec: c.codec}).Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(Codec %T): %v, want an error saying %q", c.codec, err, c.want)
		}
	}
	if err := (&engine.Config{Store: testkit.NewEngine(t, nil).Store, Codec: &xorCodec{name: "xor"}}).Validate(); err != nil {
		t.Fatalf("a named codec: %v", err)
	}
}

// faultyCodec fails in the way its mode says once armed: "panic" panics in
// Encode and Decode, "nonjson" decodes to bytes that are not JSON.
type faultyCodec struct{ mode atomic.Value }

func (c *faultyCodec) Name() string { return "faulty/v1" }

func (c *faultyCodec) Encode(doc []byte) ([]byte, error) {
	if c.mode.Load() == "panic" {
		panic("encode exploded")
	}
	return doc, nil
}

func (c *faultyCodec) Decode(data []byte) ([]byte, error) {
	switch c.mode.Load() {
	case "panic":
		panic("decode exploded")
	case "nonjson":
		return []byte("garbage"), nil
	}
	return data, nil
}

// TestFaultyCodecIsTheCodecsError: a codec that panics, or decodes to
// bytes that are not JSON, is reported as the codec's failure (ErrCodec,
// naming it): a panic in Decode at a worker crashed the process, one in
// Encode crashed Start's caller, and non-JSON reached the handler, which
// failed "decoding input of step s: invalid character" with a diagnosis
// blaming the input's shape.
func TestFaultyCodecIsTheCodecsError(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ mode, want string }{
		{"panic", `tasker: payload codec: decoding with faulty/v1: the codec panicked: decode exploded`},
		{"nonjson", `tasker: payload codec: decoding with faulty/v1: Decode returned 7 bytes that are not JSON`},
	} {
		t.Run(c.mode, func(t *testing.T) {
			codec := &faultyCodec{}
			codec.mode.Store("")
			env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: codec}})
			must(t, env.HandleFunc("h", func(sc *engine.StepContext) (any, error) { return "r", nil }))
			must(t, env.Register(&engine.Template{Namespace: "c", Name: "d", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
			h, err := env.Start(ctx, "c/d", map[string]string{"a": "b"})
			must(t, err)
			codec.mode.Store(c.mode)
			env.RunUntilDone(h.TaskID)
			codec.mode.Store("")
			out, err := h.Wait(ctx)
			must(t, err)
			if out.State != store.TaskError || !strings.Contains(string(out.Error), c.want) {
				t.Fatalf("a step whose input the codec could not decode: %s %s, want an error saying %q", out.State, out.Error, c.want)
			}
			if c.mode != "panic" {
				return
			}
			codec.mode.Store("panic")
			_, err = env.Start(ctx, "c/d", map[string]string{"a": "other"})
			if !errors.Is(err, engine.ErrCodec) || !strings.Contains(err.Error(), "encoding with faulty/v1: the codec panicked: encode exploded") {
				t.Fatalf("Start with a codec whose Encode panics: %v", err)
			}
		})
	}
}

// TestCodecDurableResultOverTheLimitFailsTheStep: a durable step's result
// that fits as JSON but not once encoded fails the step with
// ErrPayloadTooLarge, which the workflow can handle, as one over the
// limit without a codec does; with a codec it failed the whole workflow
// (kind permanent) under the step's stored name ("big#1").
func TestCodecDurableResultOverTheLimitFailsTheStep(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: &xorCodec{name: "xor/v1"}, MaxPayloadBytes: 250}})
	var stepErr atomic.Value
	must(t, engine.RegisterWorkflow(env.Engine, "d/w", func(w *engine.WorkflowContext, in string) (string, error) {
		// 182 bytes as JSON; its envelope is over 250.
		_, err := engine.Step(w, "big", func(ctx context.Context) (string, error) { return strings.Repeat("a", 180), nil })
		stepErr.Store(fmt.Sprint(err))
		if errors.Is(err, engine.ErrPayloadTooLarge) {
			return "handled", nil
		}
		return "", errors.New("the step did not fail with ErrPayloadTooLarge")
	}))
	ctx := context.Background()
	wf, err := engine.StartWorkflow[string, string](ctx, env.Engine, "d/w", "x")
	must(t, err)
	env.RunUntilDone(wf.TaskID)
	res, err := wf.Result(ctx)
	msg, _ := stepErr.Load().(string)
	if err != nil || res != "handled" || !strings.Contains(msg, "payload_too_large") || !strings.Contains(msg, "the result of durable step big is ") {
		t.Fatalf("an encoded durable result over the limit: %q, %v (the step's error: %s); want the step's payload_too_large, handled", res, err, msg)
	}
}

// TestCodecEncodesScheduleInputs: a schedule's input is stored encoded as
// every other payload is (it was stored as JSON, the secret in the clear
// in tasker_schedules), read back as JSON by GetSchedule and Schedules,
// given to each run as it was given, and the same definition again is
// still the same schedule.
func TestCodecEncodesScheduleInputs(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: &xorCodec{name: "xor/v1"}}})
	codecFlows(t, env.Engine)
	ctx := context.Background()
	info, err := env.Schedule(ctx, "s", "@every 1m", "c/child", secret, engine.ScheduleOptions{})
	must(t, err)
	var stored []string
	must(t, env.Store.DB().NewRaw("SELECT input FROM tasker_schedules").Scan(ctx, &stored))
	if len(stored) != 1 || strings.Contains(stored[0], "s3cret") || !strings.Contains(stored[0], `"tasker:codec"`) {
		t.Fatalf("the schedule's input as stored: %q", stored)
	}
	want := `"` + secret + `"`
	if string(info.Input) != want {
		t.Fatalf("Schedule's input %s, want %s", info.Input, want)
	}
	env.Clock.Advance(10 * time.Second) // a redefinition would move the next tick
	again, err := env.Schedule(ctx, "s", "@every 1m", "c/child", secret, engine.ScheduleOptions{})
	must(t, err)
	if !again.NextFireAt.Equal(info.NextFireAt) || string(again.Input) != want {
		t.Fatalf("the same definition again changed the schedule: %+v", again)
	}
	got, err := env.GetSchedule(ctx, "s")
	must(t, err)
	list, err := env.Schedules(ctx)
	must(t, err)
	if string(got.Input) != want || len(list) != 1 || string(list[0].Input) != want {
		t.Fatalf("read back: %s, %v", got.Input, list)
	}
	id, err := env.TriggerSchedule(ctx, "s")
	must(t, err)
	env.RunUntilDone(id)
	if res, err := engine.GetWorkflow[string](env.Engine, id).Result(ctx); err != nil || res != secret+"/child" {
		t.Fatalf("the run's result %q, %v", res, err)
	}
	// An engine without the codec (the CLI's) reads and operates the
	// schedule all the same, its input shown as stored.
	plain, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock, WorkerID: "cli"})
	must(t, err)
	must(t, plain.PauseSchedule(ctx, "s"))
	got, err = plain.GetSchedule(ctx, "s")
	must(t, err)
	if !got.Paused || string(got.Input) != stored[0] {
		t.Fatalf("read without the codec: paused %v, input %s", got.Paused, got.Input)
	}
	if list, err = plain.Schedules(ctx); err != nil || len(list) != 1 {
		t.Fatalf("listed without the codec: %v, %v", list, err)
	}
}

// TestCodecChildResultWithinTheLimitIsRead: a child's result within
// Config.MaxPayloadBytes reaches its parent with a codec as without one.
// The parent's record of the child (the result with the child's id and
// state), encoded again, was held to the limit: a little over it, it
// failed the parent for good, "the result of durable step c/kid is 435
// bytes" — a step it never ran, over a limit the child had kept.
func TestCodecChildResultWithinTheLimitIsRead(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: &xorCodec{name: "xor/v1"}, MaxPayloadBytes: 400}})
	// 257 bytes as JSON, 379 encoded: within the limit.
	must(t, engine.RegisterWorkflow(env.Engine, "c/kid", func(w *engine.WorkflowContext, in string) (string, error) { return strings.Repeat("a", 255), nil }))
	must(t, engine.RegisterWorkflow(env.Engine, "c/parent", func(w *engine.WorkflowContext, in string) (int, error) {
		r, err := engine.Child[string](w, "c/kid", in)
		return len(r), err
	}))
	ctx := context.Background()
	wf, err := engine.StartWorkflow[string, int](ctx, env.Engine, "c/parent", "x")
	must(t, err)
	env.RunUntilDone(wf.TaskID)
	if n, err := wf.Result(ctx); err != nil || n != 255 {
		t.Fatalf("the parent of a child whose result is within the limit: %d, %v", n, err)
	}
}

// inPlaceCodec encodes in its argument's storage, as an AEAD's Seal(doc[:0],
// …) does, each payload under a key of its own (as a fresh nonce makes
// each encryption differ), the key first.
type inPlaceCodec struct{ n atomic.Int64 }

func (c *inPlaceCodec) Name() string { return "in-place/v1" }

func (c *inPlaceCodec) Encode(doc []byte) ([]byte, error) {
	k := byte(c.n.Add(1)) | 1
	for i := range doc {
		doc[i] ^= k
	}
	return append([]byte{k}, doc...), nil
}

func (c *inPlaceCodec) Decode(data []byte) ([]byte, error) {
	out := make([]byte, len(data)-1)
	for i, b := range data[1:] {
		out[i] = b ^ data[0]
	}
	return out, nil
}

// TestCodecEncodingInPlace: a codec that encodes in its argument's storage
// leaves the engine's JSON as it was: the same input started twice is one
// task (the identity hashes the JSON), its handler and a code-first
// workflow's replay read what was given. The engine hashed (and checked
// against the schema, and kept in the history) the bytes the codec had
// overwritten: every start of the same input made a task of its own.
func TestCodecEncodingInPlace(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: &inPlaceCodec{}}})
	codecFlows(t, env.Engine)
	ctx := context.Background()
	h, err := env.Start(ctx, "c/dag", map[string]string{"secret": secret})
	must(t, err)
	again, err := env.Start(ctx, "c/dag", map[string]string{"secret": secret})
	must(t, err)
	if !again.Existing || again.TaskID != h.TaskID {
		t.Fatalf("the same input started twice made tasks %d and %d", h.TaskID, again.TaskID)
	}
	env.RunUntilDone(h.TaskID)
	out, err := h.Wait(ctx)
	must(t, err)
	var final string
	must(t, out.DecodeFinal(&final))
	if final != secret+"/first/second" {
		t.Fatalf("DAG result %q (%s)", final, out.Error)
	}
	must(t, engine.RegisterWorkflow(env.Engine, "c/steps", func(w *engine.WorkflowContext, in string) (string, error) {
		a, err := engine.Step(w, "a", func(ctx context.Context) (string, error) { return in + "/a", nil })
		if err != nil {
			return "", err
		}
		return engine.Step(w, "b", func(ctx context.Context) (string, error) { return a + "/b", nil })
	}))
	wf, err := engine.StartWorkflow[string, string](ctx, env.Engine, "c/steps", secret)
	must(t, err)
	env.RunUntilDone(wf.TaskID)
	if res, err := wf.Result(ctx); err != nil || res != secret+"/a/b" {
		t.Fatalf("workflow result %q, %v", res, err)
	}
}

// TestCodecChildRecordOverTheStoreLimit: a parent's record of a child's
// result, within the limit as the child stored it but over what the store
// takes once the parent encodes it with the child's id and state, fails
// the parent with ErrPayloadTooLarge saying so (the store's refusal of the
// record was taken for a failed write, and the parent's run retried).
func TestCodecChildRecordOverTheStoreLimit(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Codec: &xorCodec{name: "xor/v1"}}})
	// The child's result: its envelope just within store.MaxJSONBytes.
	n := (store.MaxJSONBytes-len(`{"tasker:codec":"xor/v1","data":""}`))/4*3 - 2
	must(t, engine.RegisterWorkflow(env.Engine, "c/kid", func(w *engine.WorkflowContext, in string) (string, error) { return strings.Repeat("a", n), nil }))
	must(t, engine.RegisterWorkflow(env.Engine, "c/parent", func(w *engine.WorkflowContext, in string) (int, error) {
		r, err := engine.Child[string](w, "c/kid", in)
		return len(r), err
	}))
	ctx := context.Background()
	wf, err := engine.StartWorkflow[string, int](ctx, env.Engine, "c/parent", "x")
	must(t, err)
	for range 10 {
		if _, err := env.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err = wf.Result(ctx)
	if err == nil || !strings.Contains(err.Error(), "payload too large: the record of c/kid is ") || !strings.Contains(err.Error(), "over the store's limit") {
		t.Fatalf("the parent: %v", err)
	}
}

// TestChildRecordOverTheStoreLimit: without a codec too, a parent's record
// of a child's result within the limit but over the store's once the
// child's id and state join it fails the parent, saying so; the store
// refused the write and the parent never finished.
func TestChildRecordOverTheStoreLimit(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	n := store.MaxJSONBytes - 10
	must(t, engine.RegisterWorkflow(env.Engine, "c/kid", func(w *engine.WorkflowContext, in string) (string, error) { return strings.Repeat("a", n), nil }))
	must(t, engine.RegisterWorkflow(env.Engine, "c/parent", func(w *engine.WorkflowContext, in string) (int, error) {
		r, err := engine.Child[string](w, "c/kid", in)
		return len(r), err
	}))
	ctx := context.Background()
	wf, err := engine.StartWorkflow[string, int](ctx, env.Engine, "c/parent", "x")
	must(t, err)
	for range 10 {
		if _, err := env.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = wf.Result(ctx)
	if err == nil || !strings.Contains(err.Error(), "payload too large: the record of c/kid is ") || !strings.Contains(err.Error(), "over the store's limit") {
		t.Fatalf("the parent: %v", err)
	}
}
