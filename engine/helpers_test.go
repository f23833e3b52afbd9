package engine_test

import (
	"time"

	"github.com/tasker-go/tasker/retry"
)

var retryFast = retry.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond}
