package store_test

import (
	"errors"
	"testing"

	"github.com/tasker-go/tasker/store"
)

// TestLoneSurrogateRefused: a JSON escape of half a UTF-16 surrogate pair
// is refused (PostgreSQL's jsonb refuses it, SQLite stored it), as is an
// escaped NUL; whole pairs, escaped backslashes before a "u" (the text
// \u0000 was refused as a NUL) and ordinary escapes pass.
func TestLoneSurrogateRefused(t *testing.T) {
	for doc, bad := range map[string]bool{
		`{"a":"\ud800"}`:               true,
		`{"a":"\udc00"}`:               true,
		`{"a":"x\ud83dy"}`:             true,
		`{"a":"\ud83d\u0041"}`:         true,
		`{"a":"\ud83d\n"}`:             true,
		`{"\ud800":1}`:                 true,
		`{"a":"\ud83d\ude00"}`:         false,
		`{"a":"\\ud800"}`:              false,
		`{"a":"\\\ud83d\ude00\\"}`:     false,
		`{"a":"\u00e9\n\t\"\\","b":1}`: false,
		`{"a":"plain"}`:                false,
		`{"a":"\u0000"}`:               true,
		`{"a":"C:\\u0000"}`:            false,
	} {
		err := (&store.SendEventParams{TaskID: 1, Name: "e", Payload: store.JSON(doc)}).Validate()
		if got := err != nil; got != bad {
			t.Errorf("%s: error = %v; want refused %v", doc, err, bad)
		} else if bad && !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: error = %v; want ErrInvalid", doc, err)
		}
	}
}

// UnstorableAt finds each escape the store refuses, from where it is asked
// to look, reading escapes as the store does.
func TestUnstorableAt(t *testing.T) {
	for _, c := range []struct {
		doc  string
		from int
		at   int
		nul  bool
	}{
		{`{"a":"x"}`, 0, -1, false},
		{`{"a":"\u0000"}`, 0, 6, true},
		{`{"a":"C:\\u0000"}`, 0, -1, false},           // a backslash, then the text u0000
		{`{"a":"\ud83d\ude00 \udc00"}`, 0, 19, false}, // a pair, then a low half alone
		{`{"a":"\ud800x"}`, 0, 6, false},
		{`{"a":"\ud800\u0041"}`, 0, 6, false},
		{`{"a":"\u0000\ud800"}`, 12, 12, false}, // from just after the first
		{`{"a":"\u0000"}`, 12, -1, false},
		{`{"a":"\u0000"}`, 99, -1, false},
	} {
		at, nul := store.UnstorableAt([]byte(c.doc), c.from)
		if at != c.at || nul != c.nul {
			t.Errorf("UnstorableAt(%s, %d) = %d, %t; want %d, %t", c.doc, c.from, at, nul, c.at, c.nul)
		}
	}
}
