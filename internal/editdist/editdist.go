// Package editdist measures how far apart two names are, for the "did you
// mean" of a misspelt key, variable or command.
package editdist

// Distance counts the insertions, deletions, substitutions and swaps of
// neighbouring bytes that turn a into b (the optimal string alignment
// distance: TASKER_BD is one edit from TASKER_DB).
func Distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// Closest returns the first of candidates nearest to name, within two
// edits, or "" when none is: a "did you mean". Candidates whose length is
// more than two apart are skipped unmeasured (their distance is at least
// the difference), so a huge name costs nothing. Pass them sorted for the
// same answer every time.
func Closest(name string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if len(c) > len(name)+2 || len(name) > len(c)+2 {
			continue
		}
		if d := Distance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
