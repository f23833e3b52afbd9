package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// reverseCodec is a test codec: it reverses the bytes.
type reverseCodec struct{}

func (reverseCodec) Name() string { return "reverse/v1" }
func (reverseCodec) Encode(doc []byte) ([]byte, error) {
	out := make([]byte, len(doc))
	for i, b := range doc {
		out[len(doc)-1-i] = b
	}
	return out, nil
}
func (c reverseCodec) Decode(data []byte) ([]byte, error) { return c.Encode(data) }

// tasks show marks payloads an engine's codec encoded, and shows no
// plaintext; --json prints the envelope.
func TestTasksShowEncodedPayloads(t *testing.T) {
	db := filepath.Join(t.TempDir(), "enc.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st, Codec: reverseCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.RegisterWorkflow(e, "enc/flow", func(wctx *engine.WorkflowContext, in string) (string, error) { return in, nil }); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[string, string](ctx, e, "enc/flow", "top-secret")
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(h.TaskID)
	out := mustExecute(t, "tasks", "show", id, "--db", db)
	if !strings.Contains(out, "(encoded with reverse/v1,") || strings.Contains(out, "top-secret") {
		t.Fatalf("tasks show of an encoded input:\n%s", out)
	}
	if js := mustExecute(t, "tasks", "show", id, "--json", "--db", db); !strings.Contains(js, "tasker:codec") || strings.Contains(js, "top-secret") {
		t.Fatalf("tasks show --json of an encoded input:\n%s", js)
	}
}
