// Package zapslog bridges zap to log/slog: a zapcore.Core that hands every
// entry to an slog.Handler, so the engine logs through zap while an
// application that uses slog receives the lines in its own handler.
package zapslog

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"go.uber.org/zap/zapcore"
)

// NewCore returns a core writing to h. Levels map to slog's (DPanic and
// above are slog.LevelError); the handler's Enabled decides what is kept.
func NewCore(h slog.Handler) zapcore.Core { return &core{h: h} }

type core struct {
	h     slog.Handler
	attrs []slog.Attr // from With
}

// Level maps a zap level onto slog's scale.
func Level(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (c *core) Enabled(l zapcore.Level) bool { return c.h.Enabled(context.Background(), Level(l)) }

func (c *core) With(fields []zapcore.Field) zapcore.Core {
	out := *c
	out.attrs = append(slices.Clip(c.attrs), attrs(fields)...)
	return &out
}

func (c *core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, Level(e.Level), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(c.attrs...)
	r.AddAttrs(attrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c *core) Sync() error { return nil }

// attrs encodes zap fields as slog attributes, in the order given (an
// error field becomes its message under its key, "error" by default).
func attrs(fields []zapcore.Field) []slog.Attr {
	out := make([]slog.Attr, 0, len(fields))
	for _, f := range fields {
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		keys := make([]string, 0, len(enc.Fields))
		for k := range enc.Fields {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, strings.Compare)
		for _, k := range keys {
			out = append(out, slog.Any(k, enc.Fields[k]))
		}
	}
	return out
}
