package engine

import (
	"context"
	"log/slog"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tasker-go/tasker/internal/zapslog"
)

// defaultLogger is the engine's logger when Config.Logger is not set:
// Config.Slog bridged, else warnings and errors to standard error (see
// Config.Logger).
func defaultLogger(s *slog.Logger) *zap.Logger {
	if s != nil {
		return zap.New(zapslog.NewCore(s.Handler()))
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), zapcore.WarnLevel))
}

// actorKey carries who asks for an operator action (WithActor).
type actorKey struct{}

// WithActor returns a context that names who performs the operator
// actions called with it (Cancel, Retry, Resolve): the name is recorded as
// "actor" in the metadata of the transitions they write, so the audit
// trail says who did it. The admin API sets it to the token's name; an
// empty actor is not recorded, and one with a NUL byte, which the metadata
// cannot hold, makes those actions fail with store.ErrInvalid naming it.
// SendEvent writes no transition: an event does not record who sent it.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// actorOf is the actor WithActor put in ctx, or "".
func actorOf(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}
