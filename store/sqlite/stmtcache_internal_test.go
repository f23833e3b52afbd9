package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// Bound statements are prepared once per connection and reused with new
// arguments; the cache stays within its bound, evicting the least recently
// used (a statement in use survives any number of one-off ones);
// statements without arguments are not kept.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db := openDB("file:" + filepath.Join(t.TempDir(), "c.db"))
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := db.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES (?1, ?2)", i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 { // the same statement, new arguments each time
		var v string
		if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = ?1", i).Scan(&v); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("k=%d: %q, %v", i, v, err)
		}
	}
	for i := range stmtCacheSize + 5 { // more kinds than the cache holds
		var n int
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) + %d FROM kv WHERE k >= ?1", i), 0).Scan(&n); err != nil || n != 3+i {
			t.Fatalf("statement %d: %d, %v", i, n, err)
		}
		if i%16 == 0 { // the hot one, used all along
			if _, err := db.ExecContext(ctx, "UPDATE kv SET v = ?1 WHERE k = 0", fmt.Sprint("u", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c := dc.(*cachingConn)
		if len(c.stmts) != stmtCacheSize || c.lru.Len() != stmtCacheSize {
			return fmt.Errorf("cache holds %d statements (%d in order), want %d", len(c.stmts), c.lru.Len(), stmtCacheSize)
		}
		if _, kept := c.stmts["UPDATE kv SET v = ?1 WHERE k = 0"]; !kept {
			return fmt.Errorf("the statement in use all along was evicted")
		}
		if _, kept := c.stmts["CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)"]; kept {
			return fmt.Errorf("a statement without arguments was kept")
		}
		if _, kept := c.stmts["SELECT v FROM kv WHERE k = ?1"]; kept {
			return fmt.Errorf("the least recently used statement was not evicted")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
