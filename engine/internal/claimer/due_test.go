package claimer

import (
	"testing"
	"time"
)

func TestDueKeepsTheEarliestAndDropsThePast(t *testing.T) {
	var d Due
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := d.Next(t0); ok {
		t.Fatal("an empty Due has a next time")
	}
	d.Add(t0.Add(3 * time.Second))
	select {
	case <-d.Changed():
	default:
		t.Fatal("the first time did not signal a change")
	}
	d.Add(t0.Add(time.Second))
	d.Add(t0.Add(2 * time.Second))
	select {
	case <-d.Changed():
	default:
		t.Fatal("a new earliest time did not signal a change")
	}
	d.Add(t0.Add(5 * time.Second))
	select {
	case <-d.Changed():
		t.Fatal("a later time signalled a change")
	default:
	}
	if next, ok := d.Next(t0); !ok || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("Next = %s, %v", next, ok)
	}
	if next, _ := d.Next(t0.Add(2 * time.Second)); !next.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("after 2s Next = %s, want 3s (1s and 2s are due)", next)
	}
}

func TestDueIsBounded(t *testing.T) {
	var d Due
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxDue + 100 {
		d.Add(t0.Add(time.Duration(maxDue+100-i) * time.Second))
	}
	if len(d.times) > maxDue {
		t.Fatalf("%d times kept, bound %d", len(d.times), maxDue)
	}
	if next, _ := d.Next(t0); !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("the earliest time was dropped: next %s", next)
	}
}
