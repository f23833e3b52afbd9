package store

import (
	"strconv"
	"strings"
)

// Code-first workflows record each durable operation as a step row named
// "name#seq": the name the workflow code gave it and its sequence number in
// the run, so that a loop calling Step(w, "poll", …) three times leaves three
// rows (poll#1, poll#2, poll#3) and names stay unique within the task.
// DurableStepName and ParseDurableStepName are the only places that know the
// format.

// DurableStepName is the row name of a durable operation: name#seq.
func DurableStepName(name string, seq int) string {
	return name + "#" + strconv.Itoa(seq)
}

// ParseDurableStepName splits a durable row name into the name the code
// gave it and its sequence number. ok is false when s is not of the form
// name#seq with a non-negative decimal seq (a DAG step's name, say).
func ParseDurableStepName(s string) (name string, seq int, ok bool) {
	i := strings.LastIndexByte(s, '#')
	if i < 0 || i == len(s)-1 {
		return s, 0, false
	}
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			return s, 0, false
		}
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return s, 0, false
	}
	return s[:i], n, true
}

// UserName is the name the workflow code gave a step: for a durable row
// (Sequence set, named name#seq) the part before '#', for every other step
// its Name.
func (s *Step) UserName() string {
	if s.Sequence == nil {
		return s.Name
	}
	if name, _, ok := ParseDurableStepName(s.Name); ok {
		return name
	}
	return s.Name
}
