package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// NewServer returns an http.Server for h on addr with the limits the admin
// API needs when it has a listener of its own: header size, read, write
// and idle timeouts. Check the address with CheckListen first: NewServer
// has no database to count the tokens an address beyond loopback needs.
//
// An empty addr is no address: the server's ListenAndServe (and
// ListenAndServeTLS) returns an error saying so, where an http.Server
// without one listens on port 80 of every interface. Serve, given a
// listener of the caller's, serves as usual.
//
// NewServer panics if h is nil, as http.Handle does: an http.Server with
// a nil Handler serves http.DefaultServeMux, and whatever registered
// itself there (net/http/pprof, expvar) would be published with the
// admin API's reach. Pass the handler Handler returns.
func NewServer(addr string, h http.Handler) *http.Server {
	if h == nil {
		panic("admin.NewServer: handler h is nil (an http.Server would serve http.DefaultServeMux); pass the handler admin.Handler returns")
	}
	if addr == "" {
		// http.Server has no hook before it listens: an Addr that is not
		// host:port (no colon, so nothing is looked up) makes net.Listen
		// refuse it, with this text in its error.
		addr = noAddress
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

// noAddress is the Addr of a server NewServer was given none.
const noAddress = "admin.NewServer was given no address, and an http.Server without one listens on port 80 of every interface; pass NewServer host and port"

// ErrInsecureListen: an address other than loopback with no token to
// guard it.
var ErrInsecureListen = errors.New("admin: refusing to listen beyond loopback without tokens")

// CheckListen decides whether the admin API may listen on addr, and
// whether anonymous requests may be served there: on a loopback address
// (127.0.0.0/8, ::1, localhost) they may while the database holds no
// token, revoked ones included (see Config.AllowAnonymous); on any other
// address at least one token must exist (else ErrInsecureListen, saying
// how to create one) and every request needs one, so a cfg with
// AllowAnonymous set is refused there (ErrInsecureListen): set it from
// the answer.
func CheckListen(ctx context.Context, cfg Config, addr string) (allowAnonymous bool, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("admin: listen address %q: %w", addr, err)
	}
	// Refused on every address, as Handler refuses it: on loopback it
	// was let through, the mistake found only later.
	if cfg.Engine == nil {
		return false, errors.New("admin: Config.Engine is required")
	}
	if Loopback(host) {
		exists, err := anyToken(ctx, cfg.Engine.Store())
		if err != nil {
			return false, fmt.Errorf("admin: counting tokens: %w", err)
		}
		return !exists, nil
	}
	// A handler built from this Config would serve anonymous requests as
	// admin on every interface as soon as no token is live (the last one
	// revoked), whatever this answered.
	if cfg.AllowAnonymous {
		return false, fmt.Errorf("%w: Config.AllowAnonymous is set and %s is reachable from other machines, where anonymous requests would act as admin whenever no token is live: leave it unset and set it from CheckListen's answer", ErrInsecureListen, addr)
	}
	n, err := cfg.Engine.Store().CountAdminTokens(ctx)
	if err != nil {
		return false, fmt.Errorf("admin: counting tokens: %w", err)
	}
	if n == 0 {
		return false, fmt.Errorf("%w: %s is reachable from other machines and the database holds no admin token; create one with `tasker tokens create --name NAME --role viewer|operator|admin`, or listen on 127.0.0.1", ErrInsecureListen, addr)
	}
	return false, nil
}

// Loopback reports whether host (a name or an address, without port)
// stays on this machine. An empty host (":7007", every interface) does
// not.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
