package pgdsn

import "testing"

func TestWithoutAndWithKeepTheRestAsWritten(t *testing.T) {
	for _, c := range []struct{ in, name, value, without, with string }{
		{"application_name=my%20app&options=-c%20statement_timeout%3D5s&schema=s", "schema", "t x",
			"application_name=my%20app&options=-c%20statement_timeout%3D5s",
			"application_name=my%20app&options=-c%20statement_timeout%3D5s&schema=t%20x"},
		{"schema=a&sslmode=disable&schem%61=b", "schema", "c", "sslmode=disable", "sslmode=disable&schema=c"},
		{"", "application_name", "chaos w1", "", "application_name=chaos%20w1"},
		{"a=1&&b=2", "c", "3", "a=1&b=2", "a=1&b=2&c=3"},
	} {
		if got := Without(c.in, c.name); got != c.without {
			t.Errorf("Without(%q, %q) = %q, want %q", c.in, c.name, got, c.without)
		}
		if got := With(c.in, c.name, c.value); got != c.with {
			t.Errorf("With(%q, %q, %q) = %q, want %q", c.in, c.name, c.value, got, c.with)
		}
	}
}
