package pgdsn

import (
	"fmt"
	"strconv"
	"time"
)

// MaxConns bounds a pool's size: past it, a pool size is a mistake.
const MaxConns = 1 << 20

// CheckPool refuses the pgxpool parameters of a dsn's runtime parameters
// (pgconn.Config.RuntimeParams) that pgxpool takes but no pool can use: a
// pool_max_conns that is no pool size (a whole number from 1 to MaxConns),
// a negative pool_min_conns or pool_min_idle_conns or one above the
// pool's size (pool_max_conns, else budget), a negative pool duration, a
// pool_health_check_period of 0 or less (its ticker panicked) and a value
// with a sign (pool_max_conn_lifetime=+30s: write 30s). A value
// that does not parse is left to pgxpool, whose error names the parameter.
// The store checks its own Options with it; the CLI checks --db, naming
// where it was given.
func CheckPool(p map[string]string, budget int) error {
	if v, ok := p["pool_max_conns"]; ok {
		n, err := strconv.Atoi(v)
		switch {
		case err == nil && signed(v, n < 0):
			return hasSign("pool_max_conns", v)
		case err != nil || n < 1 || n > MaxConns:
			return fmt.Errorf("pool_max_conns=%s is not a pool size (a whole number from 1 to %d)", v, MaxConns)
		}
		budget = n
	}
	for _, name := range []string{"pool_min_conns", "pool_min_idle_conns"} {
		v, ok := p[name]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		switch {
		case err == nil && n < 0:
			return fmt.Errorf("%s=%s is not a whole number ≥ 0", name, v)
		case err == nil && signed(v, false):
			return hasSign(name, v)
		case err == nil && n > budget:
			return fmt.Errorf("%s=%s is above the pool's size (%d here)", name, v, budget)
		}
	}
	// pgxpool takes any duration it parses: a health check period of 0 or
	// less panicked in its ticker, and a negative lifetime, idle time,
	// jitter or ping timeout is no setting a pool can keep.
	for _, name := range []string{"pool_health_check_period", "pool_max_conn_lifetime", "pool_max_conn_idle_time", "pool_max_conn_lifetime_jitter", "pool_ping_timeout"} {
		v, ok := p[name]
		if !ok {
			continue
		}
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			// pgxpool reports it, naming the parameter.
		case signed(v, d < 0):
			return hasSign(name, v)
		case name == "pool_health_check_period" && d <= 0:
			return fmt.Errorf("%s=%s is not a duration above 0 (pgxpool's default is 1m)", name, v)
		case d < 0:
			return fmt.Errorf("%s=%s is not a duration ≥ 0", name, v)
		}
	}
	return nil
}

// signed says whether v is written with a sign, which the CLI's
// configuration refuses on a number or duration: pgxpool reads +30s as 30s
// and -0 as 0 (strconv and time.ParseDuration take a sign), text other
// than the value kept. A negative value (neg) keeps its own error.
func signed(v string, neg bool) bool {
	return v != "" && (v[0] == '+' || v[0] == '-' && !neg)
}

// hasSign is the error for a value of name that is signed.
func hasSign(name, v string) error {
	return fmt.Errorf("%s=%s has a sign: write %s=%s", name, v, name, v[1:])
}
