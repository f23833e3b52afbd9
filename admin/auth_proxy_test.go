package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/store"
)

// TestDashboardBehindBasicAuthProxy: a dashboard behind a proxy that asks
// for HTTP Basic credentials (nginx's auth_basic) gets
// "Authorization: Basic …" on every request the browser makes. The pages
// read that header before the session cookie and refused it as no bearer
// token, so signing in led back to the sign-in page for ever.
func TestDashboardBehindBasicAuthProxy(t *testing.T) {
	v := newEnv(t, admin.Config{})
	viewer := v.token(store.RoleViewer)
	basic := "Basic " + "dXNlcjpwYXNz" // user:pass
	client := *v.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("POST", v.srv.URL+"/ui/login", strings.NewReader(url.Values{"token": {viewer}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basic)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) != 1 {
		t.Fatalf("signing in behind the proxy: %d %v", res.StatusCode, res.Cookies())
	}
	req, _ = http.NewRequest("GET", v.srv.URL+"/ui/", nil)
	req.Header.Set("Authorization", basic)
	req.AddCookie(res.Cookies()[0])
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("the overview with the session cookie and the proxy's Basic header: %d, want 200", res.StatusCode)
	}
	// The API still takes the bearer header alone: Basic is refused there.
	if code, _ := v.do("GET", "/api/tasks", "", "", "Authorization", basic); code != http.StatusUnauthorized {
		t.Errorf("GET /api/tasks with a Basic header: %d, want 401", code)
	}
}

// TestTokenInTheQuery: a token put in the query string (?access_token=,
// as some APIs take it) is not read; the 401 said "a bearer token is
// required", to a client that sent one, and did not say where it goes.
func TestTokenInTheQuery(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	for _, path := range []string{"/api/tasks?access_token=" + op, "/api/tasks/" + strconv.FormatInt(id, 10) + "/cancel?token=" + op} {
		method := "GET"
		if strings.HasSuffix(strings.Split(path, "?")[0], "cancel") {
			method = "POST"
		}
		code, out := v.do(method, path, "", "")
		msg, _ := out["error"].(string)
		if code != http.StatusUnauthorized || !strings.Contains(msg, "query") || !strings.Contains(msg, "Authorization: Bearer") || strings.Contains(msg, op) {
			t.Errorf("%s %s: %d %q, want 401 saying the token goes in the Authorization header, not the query (and not echoing it)", method, path, code, msg)
		}
	}
	if got := v.state(id); got != store.TaskPending {
		t.Errorf("the task is %s after the refused cancel, want pending", got)
	}
}

// TestRevokeTokenTwice: revoking a token already revoked changes nothing,
// and the answer says so with the time it was revoked, as `tasker tokens
// revoke` does; it answered {"revoked":ID} as if it had just been.
func TestRevokeTokenTwice(t *testing.T) {
	v := newEnv(t, admin.Config{})
	ad := v.token(store.RoleAdmin)
	_, tok, err := admin.CreateToken(context.Background(), v.st, "ci", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/tokens/%d/revoke", tok.ID)
	code, out := v.do("POST", path, ad, "")
	if code != http.StatusOK || out["already_revoked_at"] != nil {
		t.Fatalf("first revoke: %d %v, want 200 without already_revoked_at", code, out)
	}
	ts, err := v.st.ListAdminTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first := ts[len(ts)-1].RevokedAt
	code, out = v.do("POST", path, ad, "")
	at, _ := out["already_revoked_at"].(string)
	if code != http.StatusOK || at != first.Format(time.RFC3339Nano) || out["revoked"] != float64(tok.ID) {
		t.Errorf("second revoke: %d %v, want 200 with revoked %d and already_revoked_at %s", code, out, tok.ID, first.Format(time.RFC3339Nano))
	}
}

// TestSessionCookieSecureBehindTLSProxy: the session cookie holds the
// token's secret. Behind a proxy that ends TLS (`tasker serve` speaks
// plain HTTP) it was set without Secure, as r.TLS is nil there, so the
// browser would send the token over plain HTTP to the same host. The
// browser's Origin (https://…) or the proxy's X-Forwarded-Proto: https
// now mark it Secure; plain HTTP (loopback) still gets a cookie it sends.
func TestSessionCookieSecureBehindTLSProxy(t *testing.T) {
	v := newEnv(t, admin.Config{})
	viewer := v.token(store.RoleViewer)
	host := strings.TrimPrefix(v.srv.URL, "http://")
	client := *v.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, c := range []struct {
		name    string
		headers []string
		secure  bool
	}{
		{"plain http", nil, false},
		{"X-Forwarded-Proto", []string{"X-Forwarded-Proto", "https"}, true},
		{"Origin https", []string{"Origin", "https://" + host, "Sec-Fetch-Site", "same-origin"}, true},
		{"Origin http", []string{"Origin", "http://" + host, "Sec-Fetch-Site", "same-origin"}, false},
	} {
		for _, path := range []string{"/ui/login", "/ui/logout"} {
			req, _ := http.NewRequest("POST", v.srv.URL+path, strings.NewReader(url.Values{"token": {viewer}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for i := 0; i+1 < len(c.headers); i += 2 {
				req.Header.Set(c.headers[i], c.headers[i+1])
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			cs := res.Cookies()
			if res.StatusCode != http.StatusSeeOther || len(cs) != 1 || cs[0].Secure != c.secure {
				t.Errorf("%s: %s: %d %v, want 303 and one cookie with Secure %v", c.name, path, res.StatusCode, cs, c.secure)
			}
		}
	}
}

// TestBearerHeaderSpacing: "Bearer" and the token may be apart by more
// than one space (RFC 7235: 1*SP), which was refused as "not a Tasker
// token"; and "Bearer" with no token (curl -H "Authorization: Bearer
// $TOKEN", TOKEN unset) is told the token is missing, where it read that
// the header is not "Bearer tasker_…".
func TestBearerHeaderSpacing(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	for _, h := range []string{"Bearer  " + vw, "bearer \t" + vw} {
		if code, out := v.do("GET", "/api/counts", "", "", "Authorization", h); code != http.StatusOK {
			t.Errorf("Authorization %q: %d %v, want 200", strings.Replace(h, vw, "tasker_…", 1), code, out)
		}
	}
	for _, h := range []string{"Bearer", "Bearer ", "Bearer   "} {
		code, out := v.do("GET", "/api/counts", "", "", "Authorization", h)
		if msg := fmt.Sprint(out["error"]); code != http.StatusUnauthorized || !strings.Contains(msg, "no token after Bearer") {
			t.Errorf("Authorization %q: %d %q, want 401 saying there is no token after Bearer", h, code, msg)
		}
	}
}
