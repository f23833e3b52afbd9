package chaos

import "testing"

// The --db URL reaches the scenarios' processes as written, less its
// ?schema=, with their application_name: rebuilt through url.Values, a
// %20 became a '+', which pgx reads as a plus sign (my%20app was "my+app").
func TestPostgresURLKeptAsWritten(t *testing.T) {
	tg, err := newTarget("postgres://u@h/db?application_name=my%20app&options=-c%20statement_timeout%3D5s&schema=s")
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://u@h/db?application_name=my%20app&options=-c%20statement_timeout%3D5s"; tg.dsn != want {
		t.Fatalf("target dsn %s, want %s", tg.dsn, want)
	}
	p := opener{tg: tg}.place("chaos w1")
	if want := "postgres://u@h/db?options=-c%20statement_timeout%3D5s&application_name=chaos%20w1"; p.Postgres != want {
		t.Fatalf("place %s, want %s", p.Postgres, want)
	}
	if want := "postgres://u@h/db?options=-c%20statement_timeout%3D5s&application_name=w2"; p.named("w2").Postgres != want {
		t.Fatalf("named %s, want %s", p.named("w2").Postgres, want)
	}
}
