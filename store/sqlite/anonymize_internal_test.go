package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// Numbered parameters become anonymous ones in order, with the number each
// stood for; quoted text and comments are left alone; a statement with
// another kind of parameter, or none, is kept as written.
func TestAnonymize(t *testing.T) {
	for _, c := range []struct {
		in, out string
		order   []int
	}{
		{"SELECT ?1", "SELECT ?", []int{1}},
		{"UPDATE t SET a = ?2, b = ?2 WHERE id = ?1", "UPDATE t SET a = ?, b = ? WHERE id = ?", []int{2, 2, 1}},
		{"SELECT '?1', \"?2\", `?3`, [?4], ?5 -- ?6\n, /* ?7 */ ?8", "SELECT '?1', \"?2\", `?3`, [?4], ? -- ?6\n, /* ?7 */ ?", []int{5, 8}},
		{"SELECT 'it''s ?1', ?12", "SELECT 'it''s ?1', ?", []int{12}},
		{"SELECT json_extract(v, '$.a') FROM t WHERE k = ?1", "SELECT json_extract(v, '$.a') FROM t WHERE k = ?", []int{1}},
		// Kept as written:
		{"SELECT 1", "SELECT 1", nil},
		{"SELECT ?, ?1", "SELECT ?, ?1", nil},
		{"SELECT :a, ?1", "SELECT :a, ?1", nil},
		{"SELECT @a, ?1", "SELECT @a, ?1", nil},
		{"SELECT $a, ?1", "SELECT $a, ?1", nil},
		{"SELECT ?0", "SELECT ?0", nil},
		{"SELECT ?1, ?99999", "SELECT ?1, ?99999", nil},
		{"SELECT 'unterminated ?1", "SELECT 'unterminated ?1", nil},
	} {
		out, order := anonymize(c.in)
		if out != c.out || !slices.Equal(order, c.order) {
			t.Errorf("anonymize(%q) = %q, %v; want %q, %v", c.in, out, order, c.out, c.order)
		}
	}
}

// Through the store's connections: a parameter used twice and parameters
// out of order bind to their own arguments, cached and not; too few
// arguments are refused by the driver as before.
func TestNumberedParametersBind(t *testing.T) {
	ctx := context.Background()
	db := openDB("file:" + filepath.Join(t.TempDir(), "p.db"))
	defer db.Close()
	db.SetMaxOpenConns(1)
	for range 2 { // prepared, then from the cache
		var a, b, c string
		if err := db.QueryRowContext(ctx, "SELECT ?2, ?1, ?2 || '?1'", "x", "y").Scan(&a, &b, &c); err != nil {
			t.Fatal(err)
		}
		if a != "y" || b != "x" || c != "y?1" {
			t.Fatalf("got %q %q %q, want y x y?1", a, b, c)
		}
	}
	if _, err := db.ExecContext(ctx, "SELECT ?1, ?3", "only one"); err == nil {
		t.Fatal("a statement with fewer arguments than parameters ran")
	}
}
