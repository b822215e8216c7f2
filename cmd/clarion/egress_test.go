package main

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestEgressFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want map[string][]netip.Prefix
		err  bool
	}{
		{in: []string{"203.0.113.0/24"}, want: map[string][]netip.Prefix{"*": {netip.MustParsePrefix("203.0.113.0/24")}}},
		{in: []string{"0oa1=198.51.100.7,2001:db8::/32", "0oa2=10.1.2.3/8"}, want: map[string][]netip.Prefix{
			"0oa1": {netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8::/32")},
			"0oa2": {netip.MustParsePrefix("10.0.0.0/8")},
		}},
		{in: []string{"0oa1=vpn.example.com"}, err: true},
		{in: []string{"=10.0.0.0/8"}, err: true},
	} {
		var f egressFlag
		var err error
		for _, v := range tc.in {
			if err = f.Set(v); err != nil {
				break
			}
		}
		if (err != nil) != tc.err {
			t.Errorf("%v: err %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && !reflect.DeepEqual(f.m, tc.want) {
			t.Errorf("%v: %v, want %v", tc.in, f.m, tc.want)
		}
	}
}
