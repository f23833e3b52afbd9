package errclass

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type statusErr int

func (s statusErr) Error() string   { return "upstream said no" }
func (s statusErr) StatusCode() int { return int(s) }

// panicky's methods panic, as a client library's error reading a response
// a network failure never got does.
type panicky struct{ resp *struct{ code int } }

func (e *panicky) Error() string   { return "call failed" }
func (e *panicky) StatusCode() int { return e.resp.code }
func (e *panicky) Timeout() bool   { return e.resp.code == 0 }
func (e *panicky) Temporary() bool { return false }

// An error whose StatusCode or Timeout panics is of no class and no
// status, and the panic goes no further.
func TestMethodsThatPanic(t *testing.T) {
	if c := Of(&panicky{}); c != Unknown {
		t.Fatalf("Of = %q, want Unknown", c)
	}
	if s := HTTPStatus(fmt.Errorf("wrapped: %w", &panicky{})); s != 0 {
		t.Fatalf("HTTPStatus = %d, want 0", s)
	}
}

type netTimeout struct{}

func (netTimeout) Error() string   { return "i/o wait over" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }

func TestOf(t *testing.T) {
	var syn *json.SyntaxError
	synErr := json.Unmarshal([]byte("{"), &struct{}{})
	errors.As(synErr, &syn)
	typErr := json.Unmarshal([]byte(`{"n":"x"}`), &struct{ N int }{})
	for _, c := range []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, Unknown},
		{"plain", errors.New("something odd"), Unknown},
		{"deadline", fmt.Errorf("calling: %w", context.DeadlineExceeded), Timeout},
		{"os deadline", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, Timeout},
		{"net timeout", &net.OpError{Op: "dial", Err: netTimeout{}}, Timeout},
		{"timeout text", errors.New("request timed out"), Timeout},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), Cancelled},
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, ConnRefused},
		{"refused text", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), ConnRefused},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), ConnReset},
		{"pipe text", errors.New("write: broken pipe"), ConnReset},
		{"dns", &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}, DNS},
		{"dns text", errors.New("lookup nope.invalid: no such host"), DNS},
		{"tls", x509.UnknownAuthorityError{}, TLS},
		{"tls text", errors.New("tls: handshake failure"), TLS},
		{"5xx coder", statusErr(503), HTTP5xx},
		{"4xx coder", fmt.Errorf("wrapped: %w", statusErr(404)), HTTP4xx},
		{"5xx status line", errors.New("unexpected status 502 Bad Gateway"), HTTP5xx},
		{"4xx status line", errors.New("got 422 Unprocessable Entity from api"), HTTP4xx},
		{"number that is not a status", errors.New("order 404 is missing"), Unknown},
		{"json syntax", synErr, Decode},
		{"json type", typErr, Decode},
		{"json text", errors.New("decoding: invalid character 'x' looking for beginning of value"), Decode},
		{"nil deref", errors.New("handler panicked: runtime error: invalid memory address or nil pointer dereference"), NilDeref},
		{"runtime", errors.New("handler panicked: runtime error: index out of range [3] with length 1"), Programming},
	} {
		if got := Of(c.err); got != c.want {
			t.Errorf("%s: Of(%v) = %q, want %q", c.name, c.err, got, c.want)
		}
	}
}

func TestHTTPStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{statusErr(429), 429},
		{errors.New("status 503 Service Unavailable"), 503},
		{errors.New("503 Bad Gateway"), 0}, // text of another code
		{errors.New("status 200 OK"), 0},
	} {
		if got := HTTPStatus(c.err); got != c.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
