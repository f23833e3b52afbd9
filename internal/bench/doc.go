// Package bench holds the workloads of `tasker bench`, the project's
// scoreboard (W1 to W5c on SQLite files or PostgreSQL schemas), and the
// worker processes of its multi-process runs. cmd/tasker wires its flags
// to Options and WorkerOptions; everything measured lives here (River's
// cmd/river/riverbench is the model). The commit-rate ceiling printed
// under the table is the one probe in package ceiling.
package bench
