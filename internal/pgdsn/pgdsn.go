// Package pgdsn edits the query of a postgres:// URL without re-encoding
// the rest of it. url.Values.Encode writes a space as '+', which pgx, as
// libpq, reads as a plus sign: application_name=my%20app became "my+app",
// and options=-c%20statement_timeout%3D5s no longer connected.
package pgdsn

import (
	"net/url"
	"strings"
)

// Without returns the URL query rawQuery without the parameter name (every
// occurrence), the others as written.
func Without(rawQuery, name string) string {
	var kept []string
	for p := range strings.SplitSeq(rawQuery, "&") {
		k, _, _ := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(k); p == "" || (err == nil && k == name) {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&")
}

// With returns rawQuery with the parameter name set to value (any earlier
// occurrence removed), the others as written.
func With(rawQuery, name, value string) string {
	set := escape(name) + "=" + escape(value)
	if rest := Without(rawQuery, name); rest != "" {
		return rest + "&" + set
	}
	return set
}

// escape percent-encodes s for a query, a space as %20.
func escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
