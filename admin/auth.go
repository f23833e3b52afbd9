package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/tasker-go/tasker/store"
)

// tokenPrefix marks a Tasker admin token, so a leaked one is recognisable
// (and secret scanners can match it).
const tokenPrefix = "tasker_"

// CreateToken makes a token with the given name and role (store.RoleViewer,
// RoleOperator or RoleAdmin), records its SHA-256 and returns the secret:
// show it once, it cannot be read back. `tasker tokens create` calls it.
//
// The name is the actor the audit trail records ("token:NAME"): one with
// spaces around it or a control character is refused, since it would read
// as another token's name (" ops" beside "ops", which the check that
// names are unique let through).
func CreateToken(ctx context.Context, st store.Store, name, role string) (string, *store.AdminToken, error) {
	if st == nil {
		return "", nil, fmt.Errorf("creating admin token %q: the store st is nil: pass the engine's (Engine.Store)", name)
	}
	if strings.TrimSpace(name) != name || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", nil, fmt.Errorf("creating admin token %q: the name has spaces around it or a control character, and the audit trail (actor token:NAME) would read it as another name: give it without them", name)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("creating admin token %q: %w", name, err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	t, err := st.CreateAdminToken(ctx, &store.CreateAdminTokenParams{Name: name, Role: role, Hash: hashToken(secret)})
	if err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// rank orders the roles: each can do what the ones below it can.
func rank(role string) int {
	switch role {
	case store.RoleViewer:
		return 1
	case store.RoleOperator:
		return 2
	case store.RoleAdmin:
		return 3
	}
	return 0
}

// principal is who a request acts as.
type principal struct {
	role  string
	actor string // recorded in transition metadata: "token:<name>" or "anonymous"
	// secret is the token it presented (none when anonymous): the key of
	// its dashboard forms' CSRF token (see server.csrf).
	secret string
}

// errUnauthorized is a 401: no token. The other 401s (authError) match
// it with errors.Is and say what was wrong with the token sent: every one
// read "a bearer token is required", also to a client that sent one.
var errUnauthorized error = authError("a bearer token is required (Authorization: Bearer tasker_…; create one with `tasker tokens create`)")

type authError string

func (e authError) Error() string        { return string(e) }
func (e authError) Is(target error) bool { return target == errUnauthorized }

var (
	errNotBearer = authError("the Authorization header is not \"Bearer tasker_…\": send the token as Authorization: Bearer tasker_…")
	// "Bearer" alone: curl -H "Authorization: Bearer $TOKEN" with TOKEN
	// unset sends it.
	errNoBearerToken = authError("the Authorization header has no token after Bearer (was the variable holding it empty?): send Authorization: Bearer tasker_…")
	errNotOurToken   = authError("the bearer token is not a Tasker token (they start with tasker_; `tasker tokens create` makes one)")
	errUnknownToken  = authError("the bearer token is unknown or revoked (`tasker tokens ls` lists the tokens; `tasker tokens create` makes one)")
)

// authenticate resolves the request's bearer token. Without one, the
// request is anonymous: an admin while AllowAnonymous is set and the
// database holds no token, refused otherwise.
// The dashboard's pages (cookie true) also take the token from the
// session cookie its login form sets, when the request has no Bearer
// header (an Authorization of another scheme is a proxy's).
func (s *server) authenticate(r *http.Request, cookie bool) (*principal, error) {
	if n := len(r.Header.Values("Authorization")); n > 1 {
		// Which one counts (a client's, a proxy's it went through) is no
		// guess for the server to make.
		return nil, authError(fmt.Sprintf("the request has %d Authorization headers: send one", n))
	}
	h := r.Header.Get("Authorization")
	if cookie && !isBearer(h) {
		// A header of another scheme is a proxy's in front (nginx's
		// auth_basic has the browser send "Basic …" with every request):
		// the pages read the session cookie then. They refused it as no
		// bearer token, so signing in led back to the sign-in page.
		h = ""
	}
	if h == "" && cookie {
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			return s.bySecret(r.Context(), c.Value)
		}
	}
	if h == "" {
		if s.cfg.AllowAnonymous {
			exists, err := anyToken(r.Context(), s.st)
			if err != nil {
				return nil, err
			}
			if !exists {
				return &principal{role: store.RoleAdmin, actor: "anonymous"}, nil
			}
		}
		return nil, tokenInQuery(r)
	}
	if !isBearer(h) {
		return nil, errNotBearer
	}
	// The scheme and the token may be apart by more than one space (RFC
	// 7235's 1*SP): the token read " tasker_…", "not a Tasker token".
	_, secret, _ := strings.Cut(h, " ")
	if secret = strings.TrimLeft(secret, " \t"); secret == "" {
		return nil, errNoBearerToken
	}
	return s.bySecret(r.Context(), secret)
}

// tokenInQuery is the 401 of a request without a token: one that put it
// in the query string (?access_token=tasker_…, as some APIs take it) is
// told that it is not read there, without the secret; "a bearer token is
// required" did not say where it goes, to a client that sent one.
func tokenInQuery(r *http.Request) error {
	for name, vs := range r.URL.Query() {
		for _, v := range vs {
			if strings.HasPrefix(v, tokenPrefix) {
				return authError(fmt.Sprintf("the query parameter %q holds a token, and a token is not read from the query string (URLs end up in logs and histories): send it as Authorization: Bearer tasker_…", name))
			}
		}
	}
	return errUnauthorized
}

// isBearer reports whether h, an Authorization header, is of the Bearer
// scheme.
func isBearer(h string) bool {
	scheme, _, _ := strings.Cut(h, " ")
	return strings.EqualFold(scheme, "Bearer")
}

// anyToken reports whether a token was ever created, revoked or not:
// anonymous requests are served until the first one is, and revoking the
// last (a leaked one, say) must not make every request without a token an
// admin again.
func anyToken(ctx context.Context, st store.Store) (bool, error) {
	n, err := st.CountAdminTokens(ctx) // the live ones: one query, usually enough
	if err != nil || n > 0 {
		return n > 0, err
	}
	ts, err := st.ListAdminTokens(ctx)
	return len(ts) > 0, err
}

// bySecret finds the live token with that secret.
func (s *server) bySecret(ctx context.Context, secret string) (*principal, error) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return nil, errNotOurToken
	}
	hash := hashToken(secret)
	t, err := s.st.FindAdminToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnknownToken
	}
	if err != nil {
		return nil, err
	}
	// The lookup is by hash (a secret's prefix cannot be guessed from its
	// timing); compare in constant time all the same.
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 || t.RevokedAt != nil {
		return nil, errUnknownToken
	}
	return &principal{role: t.Role, actor: "token:" + t.Name, secret: secret}, nil
}

// need wraps h so that only principals of at least role reach it.
func (s *server) need(role string, h func(w http.ResponseWriter, r *http.Request, p *principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r, false)
		switch {
		case errors.Is(err, errUnauthorized):
			w.Header().Set("WWW-Authenticate", `Bearer realm="tasker"`)
			writeError(w, http.StatusUnauthorized, err)
			return
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("checking the token: %w", err))
			return
		case rank(p.role) < rank(role):
			writeError(w, http.StatusForbidden, fmt.Errorf("this needs the %s role; %s has the %s role", role, p.actor, p.role))
			return
		}
		h(w, r, p)
	}
}
