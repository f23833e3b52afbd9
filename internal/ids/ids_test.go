package ids_test

import (
	"testing"

	"github.com/tasker-go/tasker/internal/ids"
)

func TestParse(t *testing.T) {
	for s, want := range map[string]int64{"1": 1, "10": 10, "9223372036854775807": 1<<63 - 1} {
		if id, ok := ids.Parse(s); !ok || id != want {
			t.Errorf("Parse(%q) = %d, %v; want %d, true", s, id, ok, want)
		}
	}
	for _, s := range []string{"", "0", "00", "01", "+1", "-1", "-0", " 1", "1 ", "1e0", "0x1", "1_0", "١", "9223372036854775808"} {
		if id, ok := ids.Parse(s); ok {
			t.Errorf("Parse(%q) = %d, true; want it refused", s, id)
		}
	}
}
