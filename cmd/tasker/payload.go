package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tasker-go/tasker/store"
)

// payloadText shows a stored payload: its JSON, or, for one an engine's
// Config.Codec encoded (an envelope {"tasker:codec", "data"}), which codec
// and how many bytes — the CLI has no codec to decode it with (--json
// prints the envelope itself).
func payloadText(doc store.JSON) string {
	if bytes.Contains(doc, []byte(`"tasker:codec"`)) {
		var env struct {
			Codec string `json:"tasker:codec"`
			Data  []byte `json:"data"`
		}
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.DisallowUnknownFields()
		if dec.Decode(&env) == nil && env.Codec != "" {
			return fmt.Sprintf("(encoded with %s, %d bytes)", env.Codec, len(env.Data))
		}
	}
	return string(doc)
}
