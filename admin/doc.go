// Package admin is Tasker's HTTP admin API: an http.Handler an application
// mounts in its own mux (or `tasker serve` runs on a listener of its own)
// to look at tasks and workers, act on tasks, check health and scrape
// metrics.
//
// # Routes
//
// Every /api route answers JSON; GET routes change nothing.
//
//	GET  /healthz                       liveness (no token)
//	GET  /readyz                        200 while the database answers and holds the current schema, else 503 (no token)
//	GET  /metrics                       Prometheus exposition of Config.Metrics (viewer)
//	GET  /api/tasks                     newest first; ?state=a,b &workflow=ns/name &queue= &since= &until= (RFC 3339)
//	                                    &key= (an idempotency key, with workflow) &limit= (≤1000) &cursor= (next_cursor)
//	GET  /api/tasks/{id}                the task, its steps (durable steps in sequence order), edges by step name;
//	                                    inputs, results and errors over 4 KiB replaced by {"truncated":true,"bytes":N,"preview":…}
//	GET  /api/tasks/{id}/history        task and step transitions, in write order (id 0: a move
//	                                    its rows imply and the store does not keep: store.History)
//	GET  /api/tasks/{id}/explain        Engine.Explain: why the task is where it is
//	GET  /api/counts                    tasks and steps by state; ready steps per queue with the oldest due time
//	GET  /api/workers                   the worker registry
//	GET  /api/workflows                 templates and handlers registered in this process
//	GET  /api/report?since=1h           engine.Report of the last hour (namespace=, workflow= narrow it)
//	POST /api/tasks/{id}/cancel         {"reason":"…","force":false}            (operator)
//	POST /api/tasks/{id}/retry                                                  (operator)
//	POST /api/tasks/{id}/steps/{step}/resolve  {"results":…}                    (operator)
//	                                    Engine.Resolve (results left out, or no body: null); step "workflow"
//	                                    (engine.DriverStep) of a code-first workflow
//	                                    in error closes it, with results as its return value
//	                                    (given: left out, they are refused 400)
//	POST /api/tasks/{id}/events         {"name":"…","key":"…","payload":…}       (operator)
//	                                    answers "duplicate":true when the key was sent before (nothing changed);
//	                                    a name or key with spaces around it, or of spaces alone, is refused
//	GET  /api/tokens                    the tokens, never their secrets          (admin)
//	POST /api/tokens/{id}/revoke                                                (admin)
//	                                    answers "already_revoked_at" when it was (nothing changed)
//
// Errors are {"error":"…"} with 400 (bad parameter or body, named; also a
// query parameter the route does not read, or one given twice, a query
// that is not name=value pairs joined by & (a ';' between them, a '%' not
// followed by two hex digits), a GET with a body, and a body field not
// spelt as above, "Force" for "force", or given twice, or a body that is
// not UTF-8), 401 (no valid token, or two
// Authorization headers; a token in the query string is not read, and
// the 401 says so), 403 (role too low, or a cross-origin POST), 404,
// 405 (a method the endpoint does not take: Allow names the one it does),
// 409 (the state machine refuses the move), 413 (body over
// Config.MaxBodyBytes; nothing is done) or 503 (the database cannot be
// reached, or failed for a transient reason: try again).
//
// # Dashboard
//
// The same handler serves a dashboard at / (redirecting to ui/): an
// overview (tasks and steps by state, bar charts of tasks completed and
// failed per interval of the last hour, day or week — SVG drawn on the
// server from the task transitions, Store.TaskActivity —, ready steps per
// queue and how long the oldest waited, live workers, the latest failures:
// the tasks in error, the last failed first), the task list with filters,
// a task's page (its DAG drawn as SVG in layers with states coloured — a
// code-first workflow's durable steps as their sequence —, why it is where
// it is, its steps, their last errors with kind, code, context, stack and
// diagnostics when recorded, the timeline of its transitions, and
// Cancel/Retry buttons, a Resolve form per failed step (for a code-first
// workflow in error, its driver's, which closes it) and, for a
// code-first workflow not finished, a form that sends it an event, for
// operators), the workers, and the performance page (engine.Report of the
// last hour, day or week, through the same cache as GET /api/report). An
// engine the handler serves without running it should be Closed when the
// app stops (the report's cache). The pages are html/template, a
// stylesheet and a few lines of JS, embedded: no build step, no CDN, and
// every link is relative, so it works mounted under any prefix. A task's
// form refused (bad input, or the task moved meanwhile) is answered on the
// task's page, the reason above it and the fields as typed; a field the
// form does not have is refused. Sign in by pasting a token: it is kept in
// an HttpOnly, SameSite=Strict cookie (Secure when the browser came over
// HTTPS: TLS, an https Origin, or a proxy's X-Forwarded-Proto: https)
// read by the dashboard's pages only (never by /api; a page takes it
// also beside a proxy's Authorization of another scheme, as auth_basic
// makes browsers send), and its forms carry a CSRF token bound to the
// session: derived from the token's secret, so every handler on the database takes
// it (a restarted process, another replica behind a balancer: nothing to
// configure). Anonymous forms (AllowAnonymous, no token yet) are signed
// with a key of the process, and one opened before a restart comes back
// refused, as typed, to be sent again. A page given a query parameter it
// does not read, or one twice (?stat=error), or a query it cannot read
// (?state=error;limit=5), is answered 400 with a page naming it, as the
// API would.
//
// # Security
//
// Requests carry a bearer token: `tasker tokens create --name NAME --role
// viewer|operator|admin` (or CreateToken) prints it once; the database
// keeps only its SHA-256, and `tasker tokens revoke ID` ends it. The
// dashboard's session is that token, kept in the browser for 12 hours:
// signing out clears it from that browser and ends nothing else (the
// token is good wherever else it is, a copied cookie included, until
// revoked). A viewer
// reads, an operator also acts on tasks, an admin also manages tokens.
// Operator actions go through the engine's own operations with the
// token's name as the actor (engine.WithActor), so the transition's
// metadata records who did it ("actor":"token:NAME"). Sending an event
// writes no transition, and the event row keeps no sender: only the
// task's later moves show what it caused.
//
// Without tokens in the database a handler answers 401 to everything but
// the health checks, unless Config.AllowAnonymous is set: then requests
// without a token act as admin (actor "anonymous") until the first token
// is created. `tasker serve` sets it only on a loopback address, and
// refuses to listen on any other without a token (CheckListen).
//
// POSTs from another site are refused (http.CrossOriginProtection: the
// browser's Sec-Fetch-Site, else Origin against Host), so a page the
// operator visits cannot act through their browser. Bodies are bounded
// (64 KiB by default); NewServer adds header-size and read, write and idle
// limits for a listener of its own, panics on a nil handler rather than
// serve http.DefaultServeMux, and given no address makes a server whose
// ListenAndServe says so rather than listen on port 80 of every interface.
//
// # Metrics
//
// Pass Config.Metrics the registry the engine's Metrics (engine.NewMetrics)
// are registered on; /metrics serves it. An application that already
// serves /metrics registers the engine's Metrics on its own registry and
// leaves Config.Metrics unset.
package admin
