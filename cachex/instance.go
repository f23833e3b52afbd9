package cachex

import (
	"os"
	"strconv"
	"sync"
)

var instanceID = sync.OnceValue(func() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
})

// InstanceID identifies this process among the instances that share a
// backend: "hostname-pid". Config.Instance overrides it for a store. It is
// recorded as the default lock owner and reported in Stats.
func InstanceID() string { return instanceID() }

// instanceOr returns override when set, else InstanceID().
func instanceOr(override string) string {
	if override != "" {
		return override
	}
	return InstanceID()
}
