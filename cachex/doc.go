// Package cachex is Tasker's cache and coordination layer: cached values,
// single-flight loading, counters, locks with fencing tokens, shared back-off
// for dependent systems, and feature toggles, behind one small Cache
// interface with an in-process and a Redis implementation.
//
// The engine never needs Redis. A single-node deployment caches in process;
// instances coordinate through Redis only when an operator declares a
// distributed backend, and even then keep working when Redis goes away.
//
// # Local vs distributed
//
// New(Config{}) returns a *Local: values live in a cost-bounded ristretto
// cache (Config.Local.MaxBytes, 64 MiB by default) and counters and locks in
// a mutex-guarded map with expiry, so they are never evicted by the cost
// policy. Everything is private to the process. Stats reports hits, misses,
// evictions and TTL expirations. A string hit costs no allocation.
//
// New(Config{Distributed: "redis://host:6379/0"}) returns a *Resilient over
// a *Redis store. Values, counters (INCRBY and PEXPIRE in one Lua script),
// locks (SET NX PX with a random token, released by a Lua compare-and-delete)
// and fencing tokens (INCR of one fence counter, in the same script as the
// lock) are then shared by every process that uses the same Redis and
// Config.Redis.Namespace. Keys are Namespace + a constant prefix
// (PrefixCache, PrefixCounter, PrefixLock, KeyFence) + the caller's key.
// Redis only ever holds cache and coordination data: nothing in it is needed
// to run or recover a workflow, and it may be flushed at any time. Only a
// single Redis server is supported (no Cluster: a lock and its fence counter
// are touched by one script).
//
// Both stores pass the same conformance suite, package cachextest.
//
// A call's mistaken argument is refused with an error wrapping ErrInvalid
// that names the call and the value, and nothing is read or written: an
// empty key (or lock name), an empty system name given to a SystemGate,
// a negative ttl (a deadline already past would otherwise be kept for
// ever), a positive ttl under a millisecond (a bare number is nanoseconds:
// Incr(ctx, "hits", 1, 5) would count in a 5 ns window), a lock's ttl over
// MaxLockTTL (a year), and an Incr whose sum would overflow int64 (the
// counter keeps its value). A ttl of 0 still means "no expiry" where the
// call allows it. A call whose context is already done is refused with the
// context's error, on every store, and changes nothing.
//
// # Capabilities and modes
//
// Every store reports Capabilities: Distributed (shared beyond this
// process), AtomicIncrement and Locking. The local store is honest about
// being in-process: {Distributed: false, AtomicIncrement: true, Locking:
// true}, where the last two hold among this process's goroutines only.
//
// DetectMode turns a store into a coordination Mode — distributed_atomic,
// distributed_basic or local_only — asking, in this order: capabilities
// declared in Config.Capabilities; detectors registered with
// RegisterDetector (for stores of your own); built-in knowledge of Local,
// Redis and Resilient; and last a runtime probe (two Incr must be
// consecutive, a second Lock must be refused). A context done before or
// during the probe is refused with its error, not read as a store that
// cannot lock or count.
//
// # Failing open
//
// A *Resilient sends every operation to Redis while Redis answers. When an
// operation fails because Redis does not answer (connection refused, time
// out, LOADING, READONLY...), it switches to its local store and serves that
// operation and the following ones there: nothing fails because Redis is
// down. Each such operation is counted (Fallbacks), a warning is logged at
// most once per Config.Fallback.LogInterval (zap; silent by default), and a
// background probe asks Redis for a write every RetryInterval (a DEL of
// Namespace + "tasker:probe", a key nothing writes) and switches back as
// soon as it takes one: a read-only replica answers a PING, and switching
// back to it at each probe emptied the local store, locks held there
// included, at each next write. Answers such as a miss or a held lock, and
// errors of the caller's own context, never cause a switch. A Redis that
// answers New's or the probe's request by refusing the connection (WRONGPASS, NOAUTH, a database it does not
// have), or an operation with WRONGPASS or NOAUTH (its password changed
// mid-run), is no outage but a misconfiguration: the cache fails open all the
// same, and logs it as an error naming the URL without its password and
// Redis's answer, not as "redis unavailable".
//
// While failing open, Capabilities and DetectMode report local_only, and the
// guarantees are local: a lock excludes this process only, counters count
// this process only. The local store is emptied when failing open starts so
// an outage never serves what an earlier one left; fencing tokens keep
// rising across both switches within the process. Releasing a Redis lock
// while Redis is away returns nil; the lock expires in Redis after its TTL.
// go-redis itself may log dial failures through its own global logger;
// silence it with redis.SetLogger if needed.
//
// # System back-off
//
// A SystemGate holds calls to a dependent system back, in two ways:
// Pause(system, until) — after a 429 with Retry-After, say — where the later
// of the existing and the new end wins, and a circuit breaker per system
// (closed, open, half-open) opened by ConsecutiveFailures in a row or by an
// ErrorRate over a Window, kept open for OpenFor, then letting
// HalfOpenProbes calls through before closing again. Allow asks before a
// call (and takes a half-open breaker's probe); Acquire asks the same and
// returns the probe, which a call whose outcome is never recorded gives
// back (Probe.Release); Peek asks the same for a report, taking nothing.
//
// Pauses and breaker openings are written through the cache, as absolute
// times under keys gate:pause:<system> and gate:open:<system>, with a
// cache lock around the read-modify-write. On a local cache they are shared
// by this process only. On Redis every process sees them: one instance's
// pause or tripped breaker holds every instance back. Failures are counted
// per process; only the decision to open is published, and each process
// probes on its own once the open period ends. Instances' clocks should
// agree to well within the pause lengths used. A gate whose cache cannot
// answer lets calls through.
//
// Toggles are feature switches stored the same way (one Set on Redis
// switches every instance); anything the cache cannot answer reads as the
// toggle's default, and the known toggles default to off.
//
// # Adaptive TTL
//
// An AdaptiveTTL tracks, per key family, the hit rate with exponential
// smoothing (AdaptiveTTLConfig.Smoothing, 0.9 by default) and the access
// frequency with decay (Decay per DecayInterval, 0.95 per second by
// default), and hands out
//
//	TTL = Min + (Max-Min) * hitRate * freq/(freq+HotFrequency)
//
// so hot families whose reads hit earn long TTLs, and families that churn
// (reads miss because the data changed) or go cold fall back towards Min. It
// takes a Clock, so its behaviour is tested with a fake one.
//
// # Identity
//
// InstanceID ("hostname-pid", overridable with Config.Instance) is the
// default lock owner and is reported in Stats.
package cachex
