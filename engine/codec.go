package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tasker-go/tasker/store"
)

// Codec encodes the payloads the engine stores — task inputs, step results
// (DAG and durable), event payloads (updates among them), query state,
// update answers and schedules' inputs — so that an application can compress or encrypt them.
// Encode receives the payload's JSON and returns any bytes; Decode
// receives them back and returns the JSON. Both must be safe for
// concurrent use.
//
// The engine stores an encoded payload as a JSON envelope,
// {"tasker:codec": Name(), "data": base64 of the bytes}, so the store's
// columns stay JSON and tools without the codec (the CLI, the admin API)
// show it for what it is. Identity keys (the hash of the input) and input
// schemas work on the JSON before encoding; Config.MaxPayloadBytes bounds
// the envelope, the bytes actually stored.
//
// A codec that fails (an error, a panic, or Decode returning bytes that
// are not JSON) is reported as ErrCodec naming it: at Start, SendEvent
// and the like to their caller, at a worker as the step's permanent
// failure.
//
// With no codec (the default) payloads are stored as JSON, as before.
// A payload encoded by a codec whose name differs from this engine's is
// refused with ErrCodec; so is an envelope read by an engine without a
// codec.
type Codec interface {
	// Name identifies the encoding in the envelope ("aes-gcm/v1", say):
	// change it when old payloads can no longer be decoded. New refuses
	// an empty one, and one with a NUL byte or not UTF-8.
	Name() string
	// Encode turns a payload's JSON document into the bytes to store. It
	// is given a copy it may overwrite (encrypt in place).
	Encode(doc []byte) ([]byte, error)
	// Decode turns bytes Encode returned back into the JSON document.
	Decode(data []byte) ([]byte, error)
}

// ErrCodec: a payload could not be encoded or decoded (see Codec).
var ErrCodec = errors.New("tasker: payload codec")

// envelopeMarker is how an encoded payload is recognised cheaply: the
// database may reorder the envelope's keys (PostgreSQL's JSONB does).
var envelopeMarker = []byte(`"tasker:codec"`)

// envelope is an encoded payload as stored.
type envelope struct {
	Codec string `json:"tasker:codec"`
	Data  []byte `json:"data"`
}

// encode turns a payload's JSON into what is stored: itself without a
// codec, else its envelope.
func (e *Engine) encode(doc []byte) (store.JSON, error) {
	if e.codec == nil || len(doc) == 0 {
		return doc, nil
	}
	// A copy: the caller goes on with the JSON (identity hash, schema,
	// the history), and a codec may encode in its argument's storage, as
	// an AEAD's Seal(doc[:0], …) does.
	data, err := callCodec(e.codec.Encode, bytes.Clone(doc))
	if err != nil {
		return nil, fmt.Errorf("%w: encoding with %s: %w", ErrCodec, e.codec.Name(), err)
	}
	return json.Marshal(envelope{Codec: e.codec.Name(), Data: data})
}

// encodeChecked encodes a payload and holds the result to
// Config.MaxPayloadBytes.
func (e *Engine) encodeChecked(what string, doc []byte) (store.JSON, error) {
	enc, err := e.encode(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := e.checkPayload(what, len(enc)); err != nil {
		return nil, err
	}
	return enc, nil
}

// decode turns a stored payload back into its JSON: a payload that is not
// an envelope is returned as it is.
func (e *Engine) decode(doc []byte) ([]byte, error) {
	if !bytes.Contains(doc, envelopeMarker) {
		return doc, nil
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Codec == "" {
		return doc, nil // a payload of the application's that mentions the marker
	}
	switch {
	case e.codec == nil:
		return nil, fmt.Errorf("%w: the payload is encoded with %q and this engine has no codec (Config.Codec)", ErrCodec, env.Codec)
	case env.Codec != e.codec.Name():
		return nil, fmt.Errorf("%w: the payload is encoded with %q, not with this engine's %q", ErrCodec, env.Codec, e.codec.Name())
	}
	out, err := callCodec(e.codec.Decode, env.Data)
	if err == nil && !json.Valid(out) {
		// Caught here, the codec's fault is named as such: handed on, the
		// handler failed decoding its "input", blamed on the input's shape.
		err = fmt.Errorf("Decode returned %d bytes that are not JSON", len(out))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decoding with %s: %w", ErrCodec, env.Codec, err)
	}
	return out, nil
}

// callCodec calls a codec's Encode or Decode, its panic returned as an
// error: the application's code, it runs outside a handler's recovery (a
// worker decoding a step's input, encoding its result), where a panic
// would end the process.
func callCodec(f func([]byte) ([]byte, error), in []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("the codec panicked: %v", r)
		}
	}()
	return f(in)
}

// decodeAll decodes the results of steps in place (a history, a task's
// steps read for their results).
func (e *Engine) decodeAll(steps []*store.Step) error {
	for _, s := range steps {
		doc, err := e.decode(s.Results)
		if err != nil {
			return fmt.Errorf("result of step %s: %w", s.Name, err)
		}
		s.Results = doc
	}
	return nil
}

// decodeClaimed decodes a claimed step's input and its dependencies'
// results for its handler (nothing to do without a codec).
func (e *Engine) decodeClaimed(input store.JSON, deps map[string]store.JSON) (store.JSON, map[string]store.JSON, error) {
	if e.codec == nil {
		return input, deps, nil
	}
	in, err := e.decode(input)
	if err != nil {
		return nil, nil, fmt.Errorf("input: %w", err)
	}
	out := make(map[string]store.JSON, len(deps))
	for name, doc := range deps {
		if out[name], err = e.decode(doc); err != nil {
			return nil, nil, fmt.Errorf("result of dependency %s: %w", name, err)
		}
	}
	return in, out, nil
}

// getDecoded reads a task with its steps' results decoded.
func (e *Engine) getDecoded(ctx context.Context, taskID int64) (*store.TaskDetail, error) {
	d, err := e.st.GetTask(ctx, taskID)
	if err == nil {
		err = e.decodeAll(d.Steps)
	}
	return d, err
}
