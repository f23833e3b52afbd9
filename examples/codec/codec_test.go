package codec_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/codec"
	"github.com/tasker-go/tasker/store/sqlite"
)

var key = bytes.Repeat([]byte{7}, 32)

func TestRoundTripAndTampering(t *testing.T) {
	c, err := codec.New(key)
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"card":"4242 4242 4242 4242"}`)
	a, err := c.Encode(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Encode(doc)
	if bytes.Equal(a, b) || bytes.Contains(a, []byte("4242")) {
		t.Fatal("encryption is deterministic or leaks the plaintext")
	}
	out, err := c.Decode(a)
	if err != nil || !bytes.Equal(out, doc) {
		t.Fatalf("round trip: %s, %v", out, err)
	}
	a[len(a)-1] ^= 1
	if _, err := c.Decode(a); !errors.Is(err, codec.ErrTampered) {
		t.Fatalf("a tampered payload: %v", err)
	}
	if _, err := c.Decode([]byte("short")); !errors.Is(err, codec.ErrTampered) {
		t.Fatalf("a short payload: %v", err)
	}
	other, _ := codec.New(bytes.Repeat([]byte{8}, 32))
	if other.Name() == c.Name() || !strings.HasPrefix(c.Name(), "aes-256-gcm/") {
		t.Fatalf("names %q and %q: a key id must tell keys apart", c.Name(), other.Name())
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("K", base64.StdEncoding.EncodeToString(key))
	c, err := codec.FromEnv("K")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := codec.New(key)
	if c.Name() != want.Name() {
		t.Fatalf("name %q, want %q", c.Name(), want.Name())
	}
	t.Setenv("K", base64.RawURLEncoding.EncodeToString(key))
	if _, err := codec.FromEnv("K"); err != nil {
		t.Fatalf("URL encoding without padding: %v", err)
	}
	for _, c := range []struct{ value, msg string }{
		{"", "not set"},
		{"not base64!", "not base64"},
		{base64.StdEncoding.EncodeToString(key[:16]), "16 bytes"},
	} {
		t.Setenv("K", c.value)
		if _, err := codec.FromEnv("K"); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("FromEnv with %q: %v, want an error mentioning %q", c.value, err, c.msg)
		}
	}
}

// A workflow runs on an SQLite file with every payload encrypted: nothing
// in the file shows the card number, and an engine with another key is
// refused by name.
func TestEncryptedWorkflowOnFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "enc.db")
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, _ := codec.New(key)
	e, err := engine.New(engine.Config{Store: s, Codec: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.RegisterWorkflow(e, "pay/charge", charge); err != nil {
		t.Fatal(err)
	}
	done, err := e.RunBackground(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[Card, string](ctx, e, "pay/charge", Card{Number: "4242 4242 4242 4242"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Result(ctx)
	if err != nil || out != "charged card ending 4242" {
		t.Fatalf("result %q, %v", out, err)
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	var docs []string
	for _, q := range []string{"SELECT context FROM tasker_tasks", "SELECT results FROM tasker_steps WHERE results IS NOT NULL"} {
		var got []string
		if err := s.DB().NewRaw(q).Scan(ctx, &got); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, got...)
	}
	for _, d := range docs {
		if strings.Contains(d, "4242") || !strings.Contains(d, c.Name()) {
			t.Fatalf("stored payload not encrypted: %s", d)
		}
	}
	other, _ := codec.New(bytes.Repeat([]byte{9}, 32))
	e2, err := engine.New(engine.Config{Store: s, Codec: other})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.GetWorkflow[string](e2, h.TaskID).Result(ctx); !errors.Is(err, engine.ErrCodec) || !strings.Contains(err.Error(), c.Name()) {
		t.Fatalf("another key: %v, want ErrCodec naming %s", err, c.Name())
	}
}

type Card struct {
	Number string `json:"number"`
}

func charge(w *engine.WorkflowContext, card Card) (string, error) {
	last4, err := engine.Step(w, "tokenize", func(ctx context.Context) (string, error) { return card.Number[len(card.Number)-4:], nil })
	if err != nil {
		return "", err
	}
	return "charged card ending " + last4, nil
}
