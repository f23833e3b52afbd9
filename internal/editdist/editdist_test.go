package editdist

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"db", "db", 0}, {"", "abc", 3}, {"abc", "", 3},
		{"BD", "DB", 1}, // a swap
		{"EXECUTON_QUEUES", "EXECUTION_QUEUES", 1}, // a letter missing
		{"retires", "retries", 1},
		{"kitten", "sitting", 3},
		{"name", "namespace", 5},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"shop/order", "shop/orders", "shop/refund"}
	for _, c := range []struct{ name, want string }{
		{"shop/ordr", "shop/order"},   // one edit from the first, two from the second: the nearest
		{"shop/orderz", "shop/order"}, // one edit from both: the first
		{"shop/refnud", "shop/refund"},
		{"billing/invoice", ""}, // nothing within two edits
		{"", ""},
	} {
		if got := Closest(c.name, names); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}
