package store

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSON is a JSON document stored in a text (SQLite) or jsonb (Postgres)
// column. The zero value is SQL NULL.
type JSON []byte

// Value implements driver.Valuer: JSON goes to the database as text.
func (j JSON) Value() (driver.Value, error) {
	if j == nil {
		return nil, nil
	}
	return string(j), nil
}

// Scan implements sql.Scanner.
func (j *JSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j = nil
	case []byte:
		*j = append(JSON(nil), v...)
	case string:
		*j = JSON(v)
	default:
		return fmt.Errorf("store.JSON: cannot scan %T", src)
	}
	return nil
}

// MarshalJSON returns the document itself ("null" when empty).
func (j JSON) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// UnmarshalJSON stores a copy of data.
func (j *JSON) UnmarshalJSON(data []byte) error {
	*j = append((*j)[:0], data...)
	return nil
}

// Decode unmarshals the document into v.
func (j JSON) Decode(v any) error {
	if len(j) == 0 {
		return fmt.Errorf("store.JSON: empty document")
	}
	return json.Unmarshal(j, v)
}

// MustJSON encodes v, for tests and literals; it panics on values that
// cannot be encoded.
func MustJSON(v any) JSON {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// MaxJSONBytes is the largest document (task context, step results, event
// payload, transition metadata) the store accepts.
const MaxJSONBytes = 8 << 20

// MaxNameLen is the longest namespace, name, version, handler, event name or
// identity key the store accepts, in bytes.
const MaxNameLen = 255

// checkJSON validates a document at the border: well formed, within the size
// limit, an object when object is set, and free of NUL characters (which
// Postgres jsonb refuses, so neither backend stores them) and of invalid
// UTF-8.
func checkJSON(field string, doc JSON, object bool) error {
	if len(doc) == 0 {
		return nil
	}
	if len(doc) > MaxJSONBytes {
		return invalid(field, "document of %d bytes exceeds the limit of %d", len(doc), MaxJSONBytes)
	}
	if !json.Valid(doc) {
		return invalid(field, "not valid JSON")
	}
	if !utf8.Valid(doc) {
		// json.Valid lets it through; PostgreSQL refused it (an encoding
		// error from the driver) and SQLite stored it.
		return invalid(field, "is not valid UTF-8")
	}
	switch badEscape(doc) {
	case escapedNUL:
		return invalid(field, "contains a NUL character")
	case escapedHalf:
		return invalid(field, "escapes half of a UTF-16 surrogate pair alone (\\ud800 without its \\udc00), which is no character")
	}
	if object {
		if t := bytes.TrimLeft(doc, " \t\r\n"); len(t) == 0 || t[0] != '{' {
			return invalid(field, "must be a JSON object")
		}
	}
	return nil
}

// The escapes badEscape finds.
const (
	escapedNUL  = 1 + iota // \u0000, which PostgreSQL's jsonb refuses
	escapedHalf            // half of a UTF-16 surrogate pair alone
)

// UnstorableEscape says why the store would refuse doc, valid JSON, for an
// escape it holds — a NUL character (\u0000), or half of a UTF-16
// surrogate pair alone — and is nil when it holds neither. It reads
// escapes, so "C:\\u0000" (a backslash, then the text u0000) passes. The
// engine checks a step's result with it before recording: refused by the
// store, the result would fail the commit carrying it and every other
// outcome in it.
func UnstorableEscape(doc []byte) error {
	switch badEscape(doc) {
	case escapedNUL:
		return errors.New(`it contains a NUL character (\u0000), which the store refuses`)
	case escapedHalf:
		return errors.New(`it escapes half of a UTF-16 surrogate pair alone (\ud800 without its \udc00), which the store refuses`)
	}
	return nil
}

// badEscape reports the first escape in doc, valid JSON, that PostgreSQL's
// jsonb refuses while SQLite stores it (so the same call would work on one
// store only): \u0000 (escapedNUL), or half of a surrogate pair alone,
// "\ud800" (escapedHalf; 22P02). 0: none. It reads escapes, so "\\u0000",
// a backslash and the text u0000, is none.
func badEscape(doc []byte) int {
	switch at, nul := UnstorableAt(doc, 0); {
	case at < 0:
		return 0
	case nul:
		return escapedNUL
	}
	return escapedHalf
}

// UnstorableAt is the offset in doc (valid JSON) of the first escape the
// store refuses (see UnstorableEscape) at or after byte from, which must
// not fall inside an escape (0, or just after one), and whether it is a
// NUL (\u0000) rather than half of a surrogate pair alone; -1 when there is
// none. The escape is the six bytes from the offset. It reads escapes as
// UnstorableEscape does: the engine rewrites a failure's escapes with it,
// the admin API names the one a body holds.
func UnstorableAt(doc []byte, from int) (at int, nul bool) {
	half := func(at int) rune { // the \uXXXX escape whose u is doc[at]
		r, _ := strconv.ParseUint(string(doc[at+1:at+5]), 16, 16)
		return rune(r)
	}
	if from < 0 || from >= len(doc) {
		return -1, false
	}
	i := bytes.IndexByte(doc[from:], '\\')
	if i < 0 {
		return -1, false
	}
	for i += from; i+1 < len(doc); {
		// In valid JSON a backslash is in a string and escapes doc[i+1].
		next := i + 2
		if doc[i+1] == 'u' {
			next = i + 6
			switch r := half(i + 1); {
			case r == 0:
				return i, true
			case r >= 0xdc00 && r <= 0xdfff:
				return i, false
			case r >= 0xd800 && r <= 0xdbff:
				if next+5 >= len(doc) || doc[next] != '\\' || doc[next+1] != 'u' {
					return i, false
				}
				if lo := half(next + 1); lo < 0xdc00 || lo > 0xdfff {
					return i, false
				}
				next += 6
			}
		}
		j := bytes.IndexByte(doc[next:], '\\')
		if j < 0 {
			break
		}
		i = next + j
	}
	return -1, false
}

// checkName validates a short identifier-like string. Invalid UTF-8 is
// refused on both backends: PostgreSQL's text cannot hold it (its insert
// failed with the database's encoding error), and SQLite stored it, so the
// same call worked on one store and not the other.
func checkName(field, s string, required bool) error {
	switch {
	case s == "" && required:
		return invalid(field, "is required")
	case len(s) > MaxNameLen:
		return invalid(field, "is %d bytes long; the limit is %d", len(s), MaxNameLen)
	case strings.IndexByte(s, 0) >= 0:
		return invalid(field, "contains a NUL byte")
	case !utf8.ValidString(s):
		return invalid(field, "is not valid UTF-8")
	}
	return nil
}

// CheckName refuses what no stored name can be (empty, longer than
// MaxNameLen, a NUL byte, invalid UTF-8), naming field: a read by such a
// name is refused as a write of it would be, not answered "not found".
func CheckName(field, s string) error { return checkName(field, s, true) }
