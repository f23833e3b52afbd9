package sqlite

import "strings"

// anonymize rewrites a statement whose parameters are all numbered (?NNN,
// as the store writes them) with anonymous ones (?), in order, and returns
// the number each stood for. The driver looks up the name of every
// numbered parameter at every run (a C string copied to Go): in a
// multi-row INSERT of hundreds of parameters that was a tenth of the
// bench's CPU (W2). An anonymous parameter has no name to look up.
//
// A statement with any other kind of parameter (?, :name, @name, $name),
// or with none, is returned as it is, with a nil order. Quoted strings,
// quoted identifiers and comments are skipped.
func anonymize(query string) (string, []int) {
	var b strings.Builder
	var order []int
	last := 0 // the end of the text copied so far
	for i := 0; i < len(query); i++ {
		switch c := query[i]; c {
		case '\'', '"', '`':
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				return query, nil
			}
			i += j + 1 // a doubled quote is two quoted runs back to back
		case '[':
			j := strings.IndexByte(query[i+1:], ']')
			if j < 0 {
				return query, nil
			}
			i += j + 1
		case '-':
			if i+1 < len(query) && query[i+1] == '-' {
				j := strings.IndexByte(query[i:], '\n')
				if j < 0 {
					i = len(query)
				} else {
					i += j
				}
			}
		case '/':
			if i+1 < len(query) && query[i+1] == '*' {
				j := strings.Index(query[i+2:], "*/")
				if j < 0 {
					return query, nil
				}
				i += j + 3
			}
		case ':', '@', '$':
			if i+1 < len(query) && isIdent(query[i+1]) {
				return query, nil // a named parameter
			}
		case '?':
			j := i + 1
			n := 0
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				n = n*10 + int(query[j]-'0')
				j++
				if n > maxParam {
					return query, nil // for the driver to refuse
				}
			}
			if n == 0 {
				return query, nil // an anonymous parameter, or ?0
			}
			b.WriteString(query[last:i])
			b.WriteByte('?')
			order = append(order, n)
			last, i = j, j-1
		}
	}
	if order == nil {
		return query, nil
	}
	b.WriteString(query[last:])
	return b.String(), order
}

// maxParam is SQLite's largest parameter number (SQLITE_MAX_VARIABLE_NUMBER).
const maxParam = 32766

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
