// Package errclass sorts a Go error into the classes the predictive retry
// and the error diagnostics reason about: timeouts, connection failures,
// DNS and TLS failures, HTTP statuses, decoding errors, cancellation and
// programming errors. It is pure: typed errors first (errors.As/Is over
// the standard library's types), then the messages those types print, for
// errors that were flattened to text on their way to the handler's return.
package errclass

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Class is a kind of error. The zero Class is Unknown.
type Class string

// The classes.
const (
	Unknown     Class = ""
	Timeout     Class = "timeout"
	Cancelled   Class = "cancelled"
	ConnRefused Class = "connection_refused"
	ConnReset   Class = "connection_reset"
	DNS         Class = "dns"
	TLS         Class = "tls"
	HTTP4xx     Class = "http_4xx"
	HTTP5xx     Class = "http_5xx"
	Decode      Class = "json_decode"
	NilDeref    Class = "nil_dereference"
	Programming Class = "programming"
)

// Name is the class as failures record it: "unknown" for Unknown, whose
// value is empty.
func (c Class) Name() string {
	if c == Unknown {
		return "unknown"
	}
	return string(c)
}

// StatusCoder is an error that carries an HTTP status (the convention of
// many HTTP client libraries).
type StatusCoder interface{ StatusCode() int }

// Of classifies err; nil and errors it does not recognise are Unknown, and
// so is an error one of whose methods the classification calls (Timeout,
// Is, As) panics: a handler's error must not crash the process.
func Of(err error) (c Class) {
	if err == nil {
		return Unknown
	}
	defer func() {
		if recover() != nil {
			c = Unknown
		}
	}()
	msg := err.Error()
	// Programming errors first: a panic's message may mention anything.
	switch {
	case strings.Contains(msg, "nil pointer dereference"):
		return NilDeref
	case strings.Contains(msg, "runtime error:"):
		return Programming
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return DNS
	}
	if isTLS(err) {
		return TLS
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ConnRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return ConnReset
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout
	case errors.Is(err, context.Canceled):
		return Cancelled
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	if code := HTTPStatus(err); code >= 400 && code < 600 {
		if code >= 500 {
			return HTTP5xx
		}
		return HTTP4xx
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		return Decode
	}
	return ofMessage(strings.ToLower(msg))
}

// ofMessage classifies the text of an error that lost its type.
func ofMessage(msg string) Class {
	for _, p := range messagePatterns {
		for _, s := range p.contains {
			if strings.Contains(msg, s) {
				return p.class
			}
		}
	}
	return Unknown
}

var messagePatterns = []struct {
	class    Class
	contains []string
}{
	{DNS, []string{"no such host", "server misbehaving"}},
	{TLS, []string{"tls: ", "x509: "}},
	{ConnRefused, []string{"connection refused"}},
	{ConnReset, []string{"connection reset", "broken pipe", "connection aborted"}},
	{Timeout, []string{"deadline exceeded", "timed out", "timeout"}},
	{Cancelled, []string{"context canceled"}},
	{Decode, []string{"invalid character", "cannot unmarshal", "unexpected end of json input"}},
}

func isTLS(err error) bool {
	var rec tls.RecordHeaderError
	var cert *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	return errors.As(err, &rec) || errors.As(err, &cert) || errors.As(err, &ua) || errors.As(err, &host) || errors.As(err, &inv)
}

// statusText matches a status line as net/http prints it
// (Response.Status: "503 Service Unavailable").
var statusText = regexp.MustCompile(`\b([45]\d\d) ([A-Z][A-Za-z'-]*(?: [A-Za-z'-]+)*)`)

// HTTPStatus is the HTTP status err carries: from a StatusCoder in its
// chain, else from a status line in its message whose text is the
// standard one for its code; 0 when there is none.
func HTTPStatus(err error) int {
	if err == nil {
		return 0
	}
	var sc StatusCoder
	if errors.As(err, &sc) {
		return statusOf(sc)
	}
	for _, m := range statusText.FindAllStringSubmatch(err.Error(), -1) {
		code, _ := strconv.Atoi(m[1])
		if text := http.StatusText(code); text != "" && strings.HasPrefix(m[2], text) {
			return code
		}
	}
	return 0
}

// statusOf is sc's StatusCode, 0 when it panics: a client library's error
// whose StatusCode reads a response that a network failure never got
// (e.resp.StatusCode, resp nil) is no status, and a handler's error must
// not crash the process that classifies it.
func statusOf(sc StatusCoder) (code int) {
	defer func() {
		if recover() != nil {
			code = 0
		}
	}()
	return sc.StatusCode()
}
