package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// decimalFlag is a whole-number flag read in decimal digits, as the CLI
// prints ids and counts. pflag's IntVar reads with base 0: --before 010
// was task 8 (octal), and 0x10, 0b1 and 1_000 were taken too.
type decimalFlag[T int | int64] struct{ p *T }

func (f decimalFlag[T]) String() string { return strconv.FormatInt(int64(*f.p), 10) }

func (f decimalFlag[T]) Type() string { return "int" }

func (f decimalFlag[T]) Set(s string) error {
	// A sign '+' is refused as a task id's is; '-' is read, and refused
	// by the commands that take no negative number, in their words.
	n, err := strconv.ParseInt(s, 10, strconv.IntSize)
	if err != nil || strings.HasPrefix(s, "+") {
		return errors.New("want a whole number in decimal digits")
	}
	*f.p = T(n)
	return nil
}

// intFlag defines an int flag read in decimal (decimalFlag).
func intFlag[T int | int64](fs *pflag.FlagSet, p *T, name string, value T, usage string) {
	*p = value
	fs.Var(decimalFlag[T]{p}, name, usage)
}
