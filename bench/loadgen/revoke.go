package main

// The revoke mode (bench/soak.sh): each worker signs a session at -sign-url
// and revokes it at -url (POST /token/invalidate with its refresh token),
// in a loop; the latency is the invalidate's.
//
//	loadgen -mode revoke -url http://127.0.0.1:8080/token/invalidate \
//	    -sign-url http://127.0.0.1:8080/token/sign -H 'X-Okapi-Tenant: diku' -c 2 -d 10s

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

func init() {
	args := os.Args[1:]
	for i, a := range args {
		if a == "-mode=revoke" || a == "--mode=revoke" || (a == "-mode" || a == "--mode") && i+1 < len(args) && args[i+1] == "revoke" {
			runRevoke(args)
			os.Exit(0)
		}
	}
}

func runRevoke(args []string) {
	fs := flag.NewFlagSet("loadgen revoke", flag.ExitOnError)
	fs.String("mode", "revoke", "revoke")
	target := fs.String("url", "", "/token/invalidate URL (loopback only)")
	signURL := fs.String("sign-url", "", "/token/sign URL (loopback only)")
	conc := fs.Int("c", 2, "concurrent workers")
	dur := fs.Duration("d", 10*time.Second, "duration (at most 2m)")
	var headers headerFlags
	fs.Var(&headers, "H", "header 'Name: value' (repeatable)")
	_ = fs.Parse(args)
	checkDuration(*dur)
	if !isLoopback(*target) || !isLoopback(*signURL) {
		fail("-url and -sign-url must be loopback URLs")
	}
	hdr := http.Header{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			fail("bad header " + h)
		}
		hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	transport := &http.Transport{MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2, DisableCompression: true}
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	runWorkers("revoke", *conc, *dur, func(w int, deadline time.Time) ([]time.Duration, map[string]int) {
		var lat []time.Duration
		status := map[string]int{}
		for time.Now().Before(deadline) {
			rt := signForRefresh(hc, *signURL, hdr, w)
			body, _ := json.Marshal(map[string]string{"refreshToken": rt})
			req, _ := http.NewRequest(http.MethodPost, *target, bytes.NewReader(body))
			req.Header = hdr.Clone()
			t0 := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				status["error"]++
				continue
			}
			resp.Body.Close()
			lat = append(lat, time.Since(t0))
			if resp.StatusCode == http.StatusNoContent {
				status["204"]++
			} else {
				status[fmt.Sprintf("unexpected-%d", resp.StatusCode)]++
			}
		}
		return lat, status
	})
}
