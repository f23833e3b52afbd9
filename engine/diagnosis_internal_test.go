package engine

import "testing"

// A failure recorded with the unknown class left empty (before it was
// named) reads back with Diagnosis.Class "unknown", as its
// BackoffDecision.ErrorClass says.
func TestRecordedDiagnosisOfAnUnknownClassReadsUnknown(t *testing.T) {
	doc := `{"kind":"error","message":"quota exceeded","diagnosis":{"rules":["out_of_attempts"],"system":{}},` +
		`"backoff":{"error_class":"unknown","base_ms":1000}}`
	f := decodeFailure([]byte(doc))
	if f.Diagnosis == nil || f.Backoff == nil || f.Diagnosis.Class != f.Backoff.ErrorClass {
		t.Fatalf("decoded %+v (diagnosis %+v, backoff %+v); want Diagnosis.Class %q as the backoff's", f, f.Diagnosis, f.Backoff, "unknown")
	}
}
