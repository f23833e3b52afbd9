package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
)

// workerSections are the configuration's sections only a process that
// runs steps reads (the claim loop, the executor's backoff and its
// predictive retry); serve warns when they are set (see its help).
var workerSections = []string{"execution", "retry", "predictive_retry"}

func newServeCmd() *cobra.Command {
	var db, listen, configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "serve the admin API (/api/…, /metrics, /healthz, /readyz) until SIGINT or SIGTERM",
		Long: `serve runs the admin HTTP API on --listen (default 127.0.0.1:7007) over the
database --db names, which must exist at the current schema version.

On a loopback address, requests without a token act as admin while the
database holds no token. Any other address needs at least one token
(` + "`tasker tokens create`" + `), and serve refuses to start without one; there every
request needs a token. serve runs no workers: operator actions change the
database, and the workers of the deployment carry them out. Its /metrics
has the Go and process metrics and the counts of what serve did; the
engine metrics (attempts, queue lag, pool) come from the processes that
run workers (register engine.NewMetrics there).

--config takes the file ` + "`tasker worker`" + ` reads (TASKER_* variables too): serve
uses its db and cache (the distributed cache Explain asks about paused
systems). worker_id, the execution, retry and predictive_retry sections,
and the preset that sets them, only matter to a process that runs steps:
when the file or the environment sets one, serve logs a warning at
startup naming them, and otherwise ignores them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			// Before the database is opened: a mistyped address is refused
			// naming the flag, not as the listener's "missing port" (and a
			// padded one, not as reachable from other machines).
			if err := padded("--listen", listen); err != nil {
				return err
			}
			_, port, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("--listen %q is not host:port (%v): give e.g. 127.0.0.1:7007, or :7007 for every interface", listen, err)
			}
			// :abc was refused beyond loopback for the lack of tokens,
			// the port unnamed, and on loopback failed at the listener.
			if _, err := net.LookupPort("tcp", port); err != nil {
				return fmt.Errorf("--listen %q: port %q is not a port number (0 to 65535) or service name: give e.g. 127.0.0.1:7007", listen, port)
			}
			settings, err := loadSettings(cmd, configPath, &db)
			if err != nil {
				return err
			}
			ecfg, log := settings.Config, cliLogger(cmd)
			if unused := settings.SectionsSet(workerSections...); len(unused) > 0 {
				log.Warn("serve runs no workers, so it does not use these sections of the configuration; tasker worker reads them",
					"sections", strings.Join(unused, ", "))
			}
			if slices.Contains(settings.Set, "worker_id") {
				// Only a running engine exports its pool's metrics under
				// it, and names its leases with it: serve does neither.
				log.Warn("serve runs no workers, so it does not use the configuration's worker_id (a worker's name in leases, logs and its pool metrics); tasker worker reads it",
					"worker_id", settings.Config.WorkerID, "from", settings.From["worker_id"])
			}
			if slices.Contains(settings.Set, "preset") {
				log.Warn("serve runs no workers, so it does not use the configuration's preset (it sets execution, retry and predictive_retry); tasker worker reads it",
					"preset", settings.Preset, "from", settings.From["preset"])
			}
			st, err := openStore(ctx, db, openExisting)
			if err != nil {
				return err
			}
			defer st.Close()
			m := engine.NewMetrics()
			reg := prometheus.NewRegistry()
			reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			ecfg.Store, ecfg.Slog, ecfg.Metrics = st, log, m
			e, err := engine.New(ecfg)
			if err != nil {
				return err
			}
			cfg := admin.Config{Engine: e, Metrics: reg}
			if cfg.AllowAnonymous, err = admin.CheckListen(ctx, cfg, listen); err != nil {
				return err
			}
			h, err := admin.Handler(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			srv := admin.NewServer(listen, h)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			mode := "every request needs a token"
			if cfg.AllowAnonymous { // CheckListen allows it while no token was ever created
				mode = "no token exists: requests without one act as admin until one is created"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "admin API on http://%s (%s) for %s; SIGINT or SIGTERM stops it\n", ln.Addr(), mode, describe(st, db))
			select {
			case err := <-served:
				return fmt.Errorf("serving the admin API: %w", err)
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			err = srv.Shutdown(sctx)
			if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
				err = serr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7007", "address to listen on (beyond loopback only with tokens)")
	addDBFlag(cmd, &db)
	addConfigFlag(cmd, &configPath)
	return cmd
}
