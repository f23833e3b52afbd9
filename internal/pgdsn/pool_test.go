package pgdsn

import "testing"

// A pool parameter with a sign is refused naming it, as the configuration,
// the flags and the admin API refuse a number or duration with one:
// pgxpool read pool_max_conn_lifetime=+30s as 30s and pool_min_conns=+2 as
// 2. A negative one keeps its error; one without a sign is taken.
func TestCheckPoolRefusesASign(t *testing.T) {
	for _, c := range []struct{ name, v, want string }{
		{"pool_max_conn_lifetime", "+30s", "pool_max_conn_lifetime=+30s has a sign: write pool_max_conn_lifetime=30s"},
		{"pool_max_conn_idle_time", "-0s", "pool_max_conn_idle_time=-0s has a sign: write pool_max_conn_idle_time=0s"},
		{"pool_health_check_period", "+1m", "pool_health_check_period=+1m has a sign: write pool_health_check_period=1m"},
		{"pool_ping_timeout", "+5s", "pool_ping_timeout=+5s has a sign: write pool_ping_timeout=5s"},
		{"pool_max_conn_lifetime_jitter", "+1s", "pool_max_conn_lifetime_jitter=+1s has a sign: write pool_max_conn_lifetime_jitter=1s"},
		{"pool_max_conns", "+5", "pool_max_conns=+5 has a sign: write pool_max_conns=5"},
		{"pool_min_conns", "+2", "pool_min_conns=+2 has a sign: write pool_min_conns=2"},
		{"pool_min_idle_conns", "-0", "pool_min_idle_conns=-0 has a sign: write pool_min_idle_conns=0"},
		{"pool_max_conn_lifetime", "-1h", "pool_max_conn_lifetime=-1h is not a duration ≥ 0"},
		{"pool_min_conns", "-1", "pool_min_conns=-1 is not a whole number ≥ 0"},
	} {
		err := CheckPool(map[string]string{c.name: c.v}, 10)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s=%s: %v, want %q", c.name, c.v, err, c.want)
		}
	}
	ok := map[string]string{"pool_max_conns": "5", "pool_min_conns": "2", "pool_min_idle_conns": "0", "pool_max_conn_lifetime": "30s", "pool_health_check_period": "1m"}
	if err := CheckPool(ok, 10); err != nil {
		t.Errorf("%v: %v", ok, err)
	}
}
