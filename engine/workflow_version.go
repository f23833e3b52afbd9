package engine

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tasker-go/tasker/store"
)

// kindVersion marks a durable row that records the version a workflow run
// chose for a change (Version).
const kindVersion = "workflow.version"

// DefaultVersion is what Version returns to a workflow whose history was
// recorded before the code called Version for that change: the code path
// that existed before the first change.
const DefaultVersion = -1

// ErrVersionUnsupported: a workflow's recorded version of a change is
// outside the range the code supports now (see VersionError). The workflow
// fails; it is never retried.
var ErrVersionUnsupported = errors.New("tasker: workflow version not supported")

// VersionError names the change whose recorded version the code no longer
// (or not yet) supports.
type VersionError struct {
	TaskID   int64
	ChangeID string
	Sequence int // where the version is recorded (0: the history predates the change)
	Version  int // the recorded version, or DefaultVersion
	Min, Max int // what the code supports
}

func (e *VersionError) Error() string {
	at := fmt.Sprintf("its history predates change %q (version %d)", e.ChangeID, e.Version)
	if e.Sequence > 0 {
		at = fmt.Sprintf("its history records version %d of change %q at sequence %d", e.Version, e.ChangeID, e.Sequence)
	}
	return fmt.Sprintf("workflow task %d cannot run this code: %s; the code supports versions %d to %d", e.TaskID, at, e.Min, e.Max)
}

// Is makes errors.Is(err, ErrVersionUnsupported) true.
func (e *VersionError) Is(target error) bool { return target == ErrVersionUnsupported }

// versionResult is a version row's recorded result.
type versionResult struct {
	Version int `json:"version"`
}

// Version returns the version of a change to a workflow's code that this
// run uses, so that code changed while workflows are asleep keeps each one
// on the path its history was recorded with (Temporal's GetVersion):
//
//	v := engine.Version(wctx, "fraud-check", engine.DefaultVersion, 1)
//	if v >= 1 {
//		... the new step ...
//	}
//
// The first run that reaches the call records maxSupported in the history
// and returns it; a replay returns what was recorded. A history recorded
// by code that did not call Version for changeID there returns
// DefaultVersion, without taking a sequence number, so the rest of that
// history still lines up. A workflow started before a deploy and not yet
// past the call takes the new path when it gets there.
//
// Raise minSupported once no running workflow needs the old path, and
// delete that path: a history whose version is below minSupported (or above
// maxSupported, after a rollback) fails the workflow with a *VersionError
// (errors.Is ErrVersionUnsupported); Replay reports it before a deploy. A
// changeID the store would refuse (empty, over 243 bytes, with a NUL byte,
// not UTF-8), one with spaces around it (unless the history holds it,
// recorded before) or minSupported > maxSupported fails the workflow as
// well, naming it.
func Version(wctx *WorkflowContext, changeID string, minSupported, maxSupported int) int {
	mustContext(wctx, "engine.Version")
	msg := checkStoreName("change id", changeID) // (a raw NUL or invalid UTF-8 failed at the store, unnamed)
	if msg == "" && len(changeID) > maxDurableName {
		msg = fmt.Sprintf("change id %s is %d bytes long; the limit is %d", quoteName(changeID), len(changeID), maxDurableName)
	}
	switch {
	case msg != "":
		wctx.failWith(Permanent(fmt.Errorf("engine.Version: %s", msg)))
		return maxSupported
	case minSupported > maxSupported || minSupported < DefaultVersion:
		wctx.failWith(Permanent(fmt.Errorf("engine.Version(%q): minSupported %d must be at least DefaultVersion (%d) and at most maxSupported %d",
			changeID, minSupported, DefaultVersion, maxSupported)))
		return maxSupported
	}
	w := wctx
	w.mu.Lock()
	if w.stop != nil { // nothing more happens in this run
		w.mu.Unlock()
		return maxSupported
	}
	if err := w.misplaced(fmt.Sprintf("engine.Version(%q)", changeID)); err != nil { // as begin refuses it
		w.mu.Unlock()
		w.failWith(err)
		return maxSupported
	}
	next := w.seq + 1
	rec := w.history[next]
	switch {
	case rec != nil && rec.Handler == kindVersion && rec.UserName() == changeID:
		w.seq = next
		w.mu.Unlock()
		var r versionResult
		if err := json.Unmarshal(rec.Results, &r); err != nil {
			w.failWith(Permanent(fmt.Errorf("decoding the recorded version of change %q (sequence %d): %w", changeID, next, err)))
			return maxSupported
		}
		return w.checkVersion(changeID, next, r.Version, minSupported, maxSupported)
	case next <= w.last:
		// The history goes on past here with something else: it was
		// recorded by code without this call.
		w.mu.Unlock()
		return w.checkVersion(changeID, 0, DefaultVersion, minSupported, maxSupported)
	case w.replay:
		w.mu.Unlock()
		return maxSupported
	}
	if msg := spacesAround("change id", changeID); msg != "" {
		// Refused where it is first recorded, as registration refuses
		// such a name; a history holding it replays above.
		w.mu.Unlock()
		w.failWith(Permanent(fmt.Errorf("engine.Version: %s", msg)))
		return maxSupported
	}
	w.seq = next
	w.mu.Unlock()
	p := store.RecordStepParams{Sequence: next, Name: changeID, Handler: kindVersion, Kind: store.OutcomeComplete,
		Results: store.MustJSON(versionResult{Version: maxSupported})}
	if _, err := w.recordFirst(p); err != nil {
		return maxSupported
	}
	return maxSupported
}

func (w *WorkflowContext) checkVersion(changeID string, seq, v, minSupported, maxSupported int) int {
	if v < minSupported || v > maxSupported {
		w.failWith(&VersionError{TaskID: w.TaskID, ChangeID: changeID, Sequence: seq, Version: v, Min: minSupported, Max: maxSupported})
	}
	return v
}
