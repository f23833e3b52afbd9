package pgdsn

import (
	"maps"
	"testing"
)

func TestSettings(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"-c search_path=app", map[string]string{"search_path": "app"}},
		{"-csearch_path=app  --statement-timeout=5s", map[string]string{"search_path": "app", "statement_timeout": "5s"}},
		{`-c Search_Path=my\ app -B 8 -c`, map[string]string{"search_path": "my app"}},
		{"-c geqo", map[string]string{}},
	} {
		if got := Settings(c.in); !maps.Equal(got, c.want) {
			t.Errorf("Settings(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
