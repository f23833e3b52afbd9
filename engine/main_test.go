package engine_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	if os.Getenv(eagerChildEnv) != "" {
		eagerChild()
		return
	}
	if os.Getenv(poisonChildEnv) != "" {
		poisonChild()
		return
	}
	if os.Getenv(typedErrorChildEnv) != "" {
		typedErrorChild()
		return
	}
	if os.Getenv(traceChildEnv) != "" {
		traceChild()
		return
	}
	goleak.VerifyTestMain(m)
}
