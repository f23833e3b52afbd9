// Package ids reads an id (a task's, a token's) as the CLI prints it and
// the admin API answers it: a positive number in decimal digits, without
// a sign, a space or a leading zero. The CLI and the admin API share it,
// so that neither takes for id 1 what neither would ever write for it.
package ids

import "strconv"

// Parse reads s as an id; ok is false for anything other than the
// canonical decimal form of a positive int64. strconv.ParseInt alone read
// "+1" and "01" as 1, so a request for an id no one was given acted on
// task (or token) 1.
func Parse(s string) (id int64, ok bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}
