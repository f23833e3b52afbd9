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

func TestBool(t *testing.T) {
	for v, want := range map[string]int{"on": 1, "TRUE": 1, "t": 1, "ye": 1, "1": 1, "off": 0, "of": 0, "f": 0, "No": 0, "0": 0, "o": -1, "": -1, "maybe": -1, "2": -1} {
		on, ok := Bool(v)
		got := -1
		if ok {
			got = 0
			if on {
				got = 1
			}
		}
		if got != want {
			t.Errorf("Bool(%q) = %v, %v", v, on, ok)
		}
	}
}
