package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tasker-go/tasker/internal/ids"
)

// decimalFlag is a whole-number flag read in decimal digits, as the CLI
// prints ids and counts. pflag's IntVar reads with base 0: --before 010
// was task 8 (octal), and 0x10, 0b1 and 1_000 were taken too.
type decimalFlag[T int | int64] struct{ p *T }

func (f decimalFlag[T]) String() string { return strconv.FormatInt(int64(*f.p), 10) }

func (f decimalFlag[T]) Type() string { return "int" }

func (f decimalFlag[T]) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, strconv.IntSize)
	if err != nil {
		return errors.New("want a whole number in decimal digits")
	}
	// Digits only, as the configuration's numbers (cliconfig): +4, -0
	// and 010 read as another text than the number meant. A negative
	// number is read, and refused by the commands that take none, in
	// their words.
	digits := strings.TrimPrefix(s, "-")
	if s[0] == '+' || s == "-0" || len(digits) > 1 && digits[0] == '0' {
		return fmt.Errorf("want a whole number in decimal digits, without sign or leading zero: write %d", n)
	}
	*f.p = T(n)
	return nil
}

// intFlag defines an int flag read in decimal (decimalFlag).
func intFlag[T int | int64](fs *pflag.FlagSet, p *T, name string, value T, usage string) {
	*p = value
	fs.Var(decimalFlag[T]{p}, name, usage)
}

// idFlag is a task id flag (--before), read as the admin API reads an id
// (ids.Parse): --before 010 was task 10 where ?cursor=010 is refused. 0,
// its default, is no task: the first page.
type idFlag struct{ p *int64 }

func (f idFlag) String() string { return strconv.FormatInt(*f.p, 10) }

func (f idFlag) Type() string { return "id" }

func (f idFlag) Set(s string) error {
	id, ok := ids.Parse(s)
	if s == "0" {
		id, ok = 0, true
	}
	if !ok {
		msg := "must be a task id: a positive whole number in decimal digits, without sign or leading zero (or 0 for the first page)"
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			msg += fmt.Sprintf("; write %d", n)
		}
		return errors.New(msg)
	}
	*f.p = id
	return nil
}

// durationFlag is a duration flag read by time.ParseDuration, as pflag's
// DurationVar reads it, but without a sign: +1h and -0s read as another
// text than the duration meant, and the configuration (cliconfig) and GET
// /api/report's since refuse them. A negative duration is read, and
// refused by the commands that take none, in their words.
type durationFlag struct{ p *time.Duration }

// String is "0" for none, which pflag's help takes for a zero default and
// leaves out, as it did for DurationVar's "0s".
func (f durationFlag) String() string {
	if *f.p == 0 {
		return "0"
	}
	return f.p.String()
}

func (f durationFlag) Type() string { return "duration" }

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if s[0] == '+' || s[0] == '-' && d == 0 {
		return fmt.Errorf("want a duration without a sign: write %s", s[1:])
	}
	*f.p = d
	return nil
}

// durFlag defines a duration flag read without a sign (durationFlag).
func durFlag(fs *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(durationFlag{p}, name, usage)
}
