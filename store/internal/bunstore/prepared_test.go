package bunstore

import (
	"fmt"
	"testing"
)

func TestTextsBuildsEachShapeOnce(t *testing.T) {
	var ts texts
	builds := 0
	build := func(s string) func() string {
		return func() string { builds++; return "text of " + s }
	}
	for range 3 {
		if got := ts.text("a", build("a")); got != "text of a" {
			t.Fatalf("text(a) = %q", got)
		}
	}
	if got := ts.text("b", build("b")); got != "text of b" {
		t.Fatalf("text(b) = %q", got)
	}
	if builds != 2 {
		t.Fatalf("built %d times for 2 shapes, want 2", builds)
	}
}

func TestTextsKeepsAtMostMaxTexts(t *testing.T) {
	var ts texts
	for i := range maxTexts + 10 {
		k := fmt.Sprint(i)
		if got := ts.text(k, func() string { return "t" + k }); got != "t"+k {
			t.Fatalf("text(%s) = %q", k, got)
		}
	}
	if n := ts.n.Load(); n != maxTexts {
		t.Fatalf("kept %d texts, want %d", n, maxTexts)
	}
	built := false
	if got := ts.text(fmt.Sprint(maxTexts+1), func() string { built = true; return "again" }); got != "again" || !built {
		t.Fatalf("a shape past the bound: got %q, built %v; want it built each time", got, built)
	}
}
