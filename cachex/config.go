package cachex

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Config selects and tunes the cache. The zero value is valid: a local,
// in-process cache of DefaultMaxBytes.
type Config struct {
	// Distributed declares a distributed backend, e.g.
	// "redis://127.0.0.1:6379/0" (or rediss:// for TLS). Empty means a
	// single-node deployment: everything stays in process and Redis is never
	// contacted.
	Distributed string `yaml:"distributed"`
	// Instance overrides InstanceID() for this cache (Local.Instance and
	// Redis.Instance default to it; a different one of theirs beside it is
	// refused).
	Instance string `yaml:"instance"`
	// Capabilities, when set, is what DetectMode reports, whatever the
	// store. Use it to pin a mode. Declaring Distributed without
	// Distributed is refused: the cache New builds then is this process's
	// alone, and would be reported shared.
	Capabilities *Capabilities `yaml:"capabilities"`
	// Local tunes the in-process store (also the fallback of a distributed
	// cache).
	Local LocalConfig `yaml:"local"`
	// Redis tunes the Redis client; its URL comes from Distributed (a
	// Redis.URL of its own is refused), and without Distributed it is
	// refused: there is no Redis to tune.
	Redis RedisConfig `yaml:"redis"`
	// Fallback tunes failing open from Redis to the local store; like
	// Redis, it is refused without Distributed.
	Fallback FallbackConfig `yaml:"fallback"`
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Distributed != "" {
		if err := validateRedisURL(c.Distributed); err != nil {
			errs = append(errs, fmt.Errorf("distributed: %w", err))
		} else if err := urlBesideFields(c.Distributed, c.Redis); err != nil {
			errs = append(errs, fmt.Errorf("distributed: %w", err))
		}
	}
	if err := c.Local.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("local: %w", err))
	}
	// Redis and Fallback tune the distributed store alone: set without
	// Distributed they would do nothing, and Redis.URL never reaches it.
	if c.Redis.URL != "" {
		errs = append(errs, fmt.Errorf("redis.url %q: the URL is Distributed (New fills redis.url from it): set Distributed instead", c.Redis.URL))
	}
	if c.Distributed == "" {
		if c.Redis != (RedisConfig{URL: c.Redis.URL}) {
			errs = append(errs, errors.New("redis: tunes the Redis store, and Distributed (empty) declares none: set Distributed or leave redis out"))
		}
		if c.Fallback != (FallbackConfig{}) {
			errs = append(errs, errors.New("fallback: tunes failing open from Redis, and Distributed (empty) declares none: set Distributed or leave fallback out"))
		}
		// The mode would read distributed while every lock, counter and
		// back-off holds in this process only.
		if c.Capabilities != nil && c.Capabilities.Distributed {
			errs = append(errs, errors.New("capabilities: distributed is declared, and Distributed (empty) declares none: the cache is this process's alone; set Distributed or declare distributed false"))
		}
	}
	// Instance is the default of Local.Instance and Redis.Instance: beside
	// a different one of theirs it would be overridden.
	for _, f := range []struct{ name, v string }{{"local.instance", c.Local.Instance}, {"redis.instance", c.Redis.Instance}} {
		if c.Instance != "" && f.v != "" && f.v != c.Instance {
			errs = append(errs, fmt.Errorf("instance %q and %s %q are both set, and %s wins there: set one", c.Instance, f.name, f.v, f.name))
		}
	}
	if err := c.Redis.validateTuning(); err != nil {
		errs = append(errs, fmt.Errorf("redis: %w", err))
	}
	if err := c.Fallback.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("fallback: %w", err))
	} else if c.Distributed != "" && c.Redis.DialTimeout >= 0 {
		if err := probeCoversDial(c.Fallback.ProbeTimeout, orDefault(c.Redis.DialTimeout, defaultDialTimeout)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// New builds the cache the configuration asks for: a *Local when
// Distributed is empty, otherwise a *Resilient over a *Redis store with a
// *Local fallback. A nil logger logs nothing. New does not fail when Redis is
// unreachable: the cache starts failing open.
func New(cfg Config, logger *zap.Logger) (Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cachex config: %w", err)
	}
	if cfg.Local.Instance == "" {
		cfg.Local.Instance = cfg.Instance
	}
	local, err := NewLocal(cfg.Local)
	if err != nil {
		return nil, err
	}
	if cfg.Distributed == "" {
		return local, nil
	}
	rc := cfg.Redis
	rc.URL = cfg.Distributed
	if rc.Instance == "" {
		rc.Instance = cfg.Instance
	}
	routeRedisLog(logger)
	remote, err := NewRedis(rc)
	if err != nil {
		_ = local.Close()
		return nil, err
	}
	res, err := NewResilient(remote, local, cfg.Fallback, logger)
	if err != nil {
		_ = remote.Close()
		_ = local.Close()
		return nil, err
	}
	return res, nil
}

func validateRedisURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return urlError(err)
	}
	// Quoted without its password: the error goes to logs, as the
	// cache's own lines do (url=redis://:xxxxx@…).
	shown := u.Redacted()
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("%q: scheme must be redis:// or rediss://", shown)
	}
	// A port alone (redis://:6379, a ${HOST} left unset) is no host
	// either: go-redis dialled localhost.
	if u.Hostname() == "" {
		return fmt.Errorf("%q: no host", shown)
	}
	// url.Parse checks a port is digits, go-redis nothing more: every
	// dial then failed and the cache failed open for good.
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %s is out of range (1 to 65535)", shown, p)
		}
	}
	// NewRedis sets these itself (from RedisConfig, or its defaults), so in
	// the URL they did nothing.
	q := u.Query()
	// go-redis takes the last of an option given more than once, and the
	// checks below read the first (sorted: the same error every time).
	for _, p := range slices.Sorted(maps.Keys(q)) {
		if vs := q[p]; len(vs) > 1 {
			times := "twice"
			if len(vs) > 2 {
				times = strconv.Itoa(len(vs)) + " times"
			}
			return fmt.Errorf("%q: option %s is given %s (%s): give it once", shown, p, times, strings.Join(vs, ", "))
		}
	}
	for _, f := range []struct{ param, field string }{
		{"dial_timeout", "dial_timeout"}, {"read_timeout", "read_timeout"},
		{"write_timeout", "write_timeout"}, {"max_retries", "retries"},
	} {
		if q.Has(f.param) {
			return fmt.Errorf("%q: option %s would be overridden by the cache's redis %s: set that instead", shown, f.param, f.field)
		}
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", shown, err)
	}
	// go-redis takes these, then does what was not meant: every command
	// fails on a negative database (a Resilient fails open for good),
	// db= wins over the path, and another protocol falls back to one.
	if opt.DB < 0 {
		return fmt.Errorf("%q: database %d is negative", shown, opt.DB)
	}
	if path := strings.Trim(u.Path, "/"); path != "" && q.Has("db") {
		return fmt.Errorf("%q: the database is given twice, %s in the path and db=%s: give one", shown, path, q.Get("db"))
	}
	if q.Has("protocol") && opt.Protocol != 2 && opt.Protocol != 3 {
		return fmt.Errorf("%q: protocol=%s: go-redis speaks RESP 2 or 3", shown, q.Get("protocol"))
	}
	if err := retryBackoffs(opt.MinRetryBackoff, opt.MaxRetryBackoff); err != nil {
		return fmt.Errorf("%q: %w", shown, err)
	}
	// go-redis takes a negative count too: pool_size=-1 panicked in
	// NewRedis (a channel of that size), the others did what 0 does.
	// (ParseURL has checked each is an integer.)
	for _, p := range []string{"pool_size", "min_idle_conns", "max_idle_conns", "max_active_conns", "max_concurrent_dials"} {
		if n, err := strconv.Atoi(q.Get(p)); err == nil && n < 0 {
			return fmt.Errorf("%q: option %s=%d is negative", shown, p, n)
		}
	}
	return nil
}

// go-redis's retry back-offs when the URL leaves them unset (its
// Options.init).
const (
	goRedisMinRetryBackoff = 10 * time.Millisecond
	goRedisMaxRetryBackoff = time.Second
)

// retryBackoffs refuses the URL's retry back-offs that go-redis would not
// honour: with the max below the min (a default included) it waits the
// max at every retry. (A duration <= 0 there is go-redis's "off": no
// back-off whatever the other says.)
func retryBackoffs(minB, maxB time.Duration) error {
	if minB < 0 || maxB < 0 {
		return nil
	}
	lo, loNote := minB, ""
	if minB == 0 {
		lo, loNote = goRedisMinRetryBackoff, " (go-redis's default)"
	}
	hi, hiNote := maxB, ""
	if maxB == 0 {
		hi, hiNote = goRedisMaxRetryBackoff, " (go-redis's default)"
	}
	if lo <= hi {
		return nil
	}
	hint := ""
	switch {
	case maxB == 0:
		hint = ": set max_retry_backoff too"
	case minB == 0:
		hint = ": set min_retry_backoff too"
	}
	return fmt.Errorf("option max_retry_backoff %s%s is below min_retry_backoff %s%s, and every retry would wait the max%s", hi, hiNote, lo, loNote, hint)
}

// urlBesideFields refuses the URL options that the RedisConfig beside
// them leaves doing nothing: a pool_size the field's overrides, and retry
// back-offs with no retry to space (NewRedis retries nothing unless
// Retries is set). raw has passed validateRedisURL.
func urlBesideFields(raw string, c RedisConfig) error {
	u, err := url.Parse(raw)
	if err != nil {
		return urlError(err)
	}
	shown := u.Redacted()
	q := u.Query()
	var errs []error
	if q.Has("pool_size") && c.PoolSize > 0 {
		errs = append(errs, fmt.Errorf("%q: option pool_size=%s and redis pool_size %d are both set, and redis pool_size wins: set one", shown, q.Get("pool_size"), c.PoolSize))
	}
	for _, p := range []string{"min_retry_backoff", "max_retry_backoff"} {
		if q.Has(p) && c.Retries == 0 {
			errs = append(errs, fmt.Errorf("%q: option %s spaces retries, and redis retries is 0 (none): set retries or leave the option out", shown, p))
		}
	}
	return errors.Join(errs...)
}

// urlError is err of url.Parse without the URL it quotes, password and
// all.
func urlError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("not a URL: %w", ue.Err)
	}
	return err
}

// validDuration appends an error when d is negative or under a
// millisecond: zero means "default", and a bare number is nanoseconds
// (OpenFor: 30 is 30 ns, not 30 s).
func validDuration(errs []error, name string, d time.Duration) []error {
	switch {
	case d < 0:
		errs = append(errs, fmt.Errorf("%s must not be negative, got %v", name, d))
	case d > 0 && d < time.Millisecond:
		errs = append(errs, fmt.Errorf("%s %v is under a millisecond: a bare number is nanoseconds (write 30 * time.Second, not 30)", name, d))
	}
	return errs
}
