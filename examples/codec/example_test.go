package codec_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/codec"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// encryptedEngine is the snippet of the README and of examples/codec's,
// verbatim (internal/readmetest checks that they match).
func encryptedEngine(s store.Store) (*engine.Engine, error) {
	c, err := codec.FromEnv(codec.KeyEnv) // TASKER_CODEC_KEY=$(openssl rand -base64 32)
	if err != nil {
		return nil, err
	}
	return engine.New(engine.Config{Store: s, Codec: c})
}

// An engine whose payloads are encrypted with a key from the environment.
func Example() {
	// In production the key comes from your secret store:
	// export TASKER_CODEC_KEY=$(openssl rand -base64 32)
	os.Setenv(codec.KeyEnv, base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))))
	defer os.Unsetenv(codec.KeyEnv)

	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	e, err := encryptedEngine(s)
	if err != nil {
		panic(err)
	}
	err = engine.RegisterWorkflow(e, "hr/payslip", func(w *engine.WorkflowContext, salary int) (string, error) {
		return fmt.Sprintf("paid %d", salary), nil
	})
	if err != nil {
		panic(err)
	}
	go e.Run(ctx)
	defer e.Stop(ctx)
	h, err := engine.StartWorkflow[int, string](ctx, e, "hr/payslip", 5400)
	if err != nil {
		panic(err)
	}
	out, err := h.Result(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	d, err := s.GetTask(ctx, h.TaskID)
	if err != nil {
		panic(err)
	}
	fmt.Println("stored input mentions the salary:", strings.Contains(string(d.Task.Context), "5400"))
	// Output:
	// paid 5400
	// stored input mentions the salary: false
}
