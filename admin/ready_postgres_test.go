package admin_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
)

// proxy forwards TCP connections to a target until it is stopped; Stop
// also cuts the connections open through it, as a database going away
// would.
type proxy struct {
	target string
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, addr, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, ln: ln}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
			p.wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
		}
	})
	return p
}

func (p *proxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// TestReadinessFollowsPostgres: /readyz is 200 while PostgreSQL answers,
// 503 while it cannot be reached (the proxy in front of it stopped), and
// 200 again once it is back; /healthz stays 200 throughout.
func TestReadinessFollowsPostgres(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	schema := pgtest.NewSchema(t)
	p := startProxy(t, "127.0.0.1:0", u.Host)
	addr := p.ln.Addr().String()
	u.Host = addr
	ctx := context.Background()
	st, err := postgres.Open(ctx, u.String(), &postgres.Options{Schema: schema})
	if err != nil {
		p.stop()
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.Handler(admin.Config{Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	probe := func(path string) int {
		t.Helper()
		rec := httptestRecorder()
		h.ServeHTTP(rec, mustRequest(t, path))
		return rec.Code
	}
	if code := probe("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz with the database up: %d", code)
	}
	p.stop()
	if code := probe("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database unreachable: %d, want 503", code)
	}
	if code := probe("/healthz"); code != http.StatusOK {
		t.Fatalf("healthz with the database unreachable: %d, want 200 (liveness)", code)
	}
	p = startProxy(t, addr, p.target)
	defer p.stop()
	if code := probe("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz once the database is back: %d", code)
	}
}
