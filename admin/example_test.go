package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// mountAdmin is the README's admin snippet: the engine's metrics on the
// application's registry, and the admin API under /tasker/ in its mux.
func mountAdmin(ctx context.Context, st store.Store, mux *http.ServeMux) (*engine.Engine, error) {
	metrics := engine.NewMetrics()
	registry := prometheus.NewRegistry() // or prometheus.DefaultRegisterer
	if err := registry.Register(metrics); err != nil {
		return nil, err
	}
	e, err := engine.New(engine.Config{Store: st, Metrics: metrics})
	if err != nil {
		return nil, err
	}
	h, err := admin.Handler(admin.Config{Engine: e, Metrics: registry})
	if err != nil {
		return nil, err
	}
	mux.Handle("/tasker/", http.StripPrefix("/tasker", h))
	return e, nil
}

// Example mounts the admin API in an application's mux, creates a viewer
// token (what `tasker tokens create` does) and reads the task counts.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tasker-admin-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	mux := http.NewServeMux()
	if _, err := mountAdmin(ctx, st, mux); err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	secret, _, err := admin.CreateToken(ctx, st, "grafana", store.RoleViewer)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, token := range []string{"", secret} {
		req, _ := http.NewRequest("GET", srv.URL+"/tasker/api/counts", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("%d %s", res.StatusCode, body)
	}
	// Output:
	// 401 {"error":"a bearer token is required (Authorization: Bearer tasker_…; create one with `tasker tokens create`)"}
	// 200 {"ready_by_queue":{},"steps":{},"tasks":{}}
}
