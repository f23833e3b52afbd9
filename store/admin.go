package store

import (
	"errors"
	"math"
	"strings"
	"time"
)

// Roles an admin token can hold, weakest first: a viewer reads, an
// operator also acts on tasks (cancel, retry, resolve, send events), an
// admin also manages tokens.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// ValidRole reports whether r is one of the roles.
func ValidRole(r string) bool { return r == RoleViewer || r == RoleOperator || r == RoleAdmin }

// AdminToken is a bearer token of the admin API as the store keeps it: a
// SHA-256 of the secret, never the secret.
type AdminToken struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Hash      string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// CreateAdminTokenParams describe a token to record. Hash is the hex
// SHA-256 of the secret (64 characters).
type CreateAdminTokenParams struct {
	Name string
	Role string
	Hash string
	Now  time.Time
}

// Validate reports every problem with p at once.
func (p *CreateAdminTokenParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	errs := []error{checkName("name", p.Name, true)}
	if !ValidRole(p.Role) {
		errs = append(errs, invalid("role", "%q is not a role (viewer, operator or admin)", p.Role))
	}
	return errors.Join(append(errs, CheckTokenHash("hash", p.Hash))...)
}

// CheckTokenHash refuses what no admin token's hash can be: anything but
// the 64 lower-case hex digits of a SHA-256, naming field (a lookup by
// such a hash is a caller's mistake, not a token not found).
func CheckTokenHash(field, hash string) error {
	if len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return invalid(field, "want the 64 lower-case hex digits of a SHA-256")
	}
	return nil
}

// QueueLag is what waits in one queue: steps ready to run (pending, every
// dependency done, due) that no worker has claimed, and the earliest time
// one of them was due. A step whose dependencies finished after its
// scheduled time counts from its scheduled time (the store does not record
// when its last dependency finished), so the age is an upper bound.
type QueueLag struct {
	Queue       string
	Ready       int
	OldestDueAt time.Time
}

// TaskActivityParams choose the window of TaskActivity: Buckets intervals
// of Width each, the first starting at Since.
type TaskActivityParams struct {
	Since   time.Time
	Width   time.Duration
	Buckets int
}

// MaxActivityBuckets bounds TaskActivityParams.Buckets.
const MaxActivityBuckets = 1000

// Validate reports every problem with p at once.
func (p *TaskActivityParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if p.Since.IsZero() {
		errs = append(errs, invalid("since", "is required"))
	}
	if p.Width <= 0 {
		errs = append(errs, invalid("width", "must be positive, got %s", p.Width))
	}
	if p.Buckets < 1 || p.Buckets > MaxActivityBuckets {
		errs = append(errs, invalid("buckets", "must be between 1 and %d, got %d", MaxActivityBuckets, p.Buckets))
	} else if p.Width > math.MaxInt64/time.Duration(p.Buckets) {
		// The window's end is Since + Buckets×Width, a time.Duration.
		errs = append(errs, invalid("width", "times buckets (%d) is longer than a time.Duration holds (%s), got %s",
			p.Buckets, time.Duration(math.MaxInt64), p.Width))
	}
	return errors.Join(errs...)
}

// ActivityBucket counts what happened to tasks in one interval, read from
// their transitions: tasks created (Started), completed and failed (moved
// to error; a retried task that fails again counts again).
type ActivityBucket struct {
	Start                      time.Time
	Started, Completed, Failed int
}
