// Command loadgen is tokengate's bounded, loopback-only load generator. It
// drives one endpoint with c concurrent workers for a fixed duration and
// prints one JSON line: requests, throughput, latency percentiles and the
// status counts.
//
// Modes:
//
//	get       GET -url with the -H headers (protected or plain route)
//	post      POST -body to -url with the -H headers (e.g. /token/sign)
//	refresh   each worker signs once at -sign-url, then rotates its own
//	          refresh token at -url for the rest of the run, so every
//	          request is a valid single-use refresh
//
// By default each worker sends its next request as soon as the last one is
// answered (closed loop: the figure is the throughput). With -rate the run
// is open loop: the requests are due at a fixed total rate, spread evenly
// over the workers, and each latency is counted from the moment its request
// was due, not from when it was sent, so a stall of the server shows in the
// percentiles in full (no coordinated omission). That is the way to compare
// the latency two routes add at the same load, below saturation.
//
// Only loopback targets are accepted: the tool refuses any other host.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

type result struct {
	Mode     string         `json:"mode"`
	Requests int            `json:"requests"`
	Seconds  float64        `json:"seconds"`
	RPS      float64        `json:"rps"`
	P50ms    float64        `json:"p50_ms"`
	P99ms    float64        `json:"p99_ms"`
	Statuses map[string]int `json:"statuses"`
}

func main() {
	mode := flag.String("mode", "get", "get, post or refresh")
	target := flag.String("url", "", "target URL (loopback only)")
	signURL := flag.String("sign-url", "", "refresh mode: /token/sign URL")
	body := flag.String("body", "", "post mode: request body")
	conc := flag.Int("c", 16, "concurrent workers")
	dur := flag.Duration("d", 10*time.Second, "duration (at most 2m)")
	want := flag.Int("expect", 0, "expected status; others count as errors (0: any 2xx)")
	rate := flag.Float64("rate", 0, "open loop: total requests per second, due on a fixed schedule (0: closed loop)")
	count := flag.Int64("n", 0, "stop after this many requests in all (0: run for -d)")
	var headers headerFlags
	flag.Var(&headers, "H", "header 'Name: value' (repeatable)")
	flag.Parse()

	if *dur <= 0 || *dur > 2*time.Minute {
		fail("duration must be in (0, 2m]")
	}
	for _, u := range []string{*target, *signURL} {
		if u != "" && !isLoopback(u) {
			fail("refusing non-loopback target " + u)
		}
	}
	if *target == "" {
		fail("-url is required")
	}
	if *rate < 0 || *rate > 1e6 {
		fail("-rate must be in [0, 1e6]")
	}
	if *count < 0 {
		fail("-n must not be negative")
	}
	var sent atomic.Int64
	transport := &http.Transport{MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2, DisableCompression: true}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	hdr := http.Header{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			fail("bad header " + h)
		}
		hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}

	runWorkers(*mode, *conc, *dur, func(w int, deadline time.Time) ([]time.Duration, map[string]int) {
		var myLat []time.Duration
		myStatus := map[string]int{}
		var refresh string
		if *mode == "refresh" {
			refresh = signForRefresh(client, *signURL, hdr, w)
		}
		// Open loop: worker w's i-th request is due at start + (i*conc+w)/rate.
		var interval, due time.Duration
		start := time.Now()
		if *rate > 0 {
			interval = time.Duration(float64(*conc) / *rate * float64(time.Second))
			due = time.Duration(float64(w) / *rate * float64(time.Second))
		}
		for time.Now().Before(deadline) {
			if *count > 0 && sent.Add(1) > *count {
				break
			}
			if interval > 0 {
				if wait := time.Until(start.Add(due)); wait > 0 {
					time.Sleep(wait)
				}
				if !start.Add(due).Before(deadline) {
					break
				}
			}
			var req *http.Request
			switch *mode {
			case "get":
				req, _ = http.NewRequest(http.MethodGet, *target, nil)
			case "post":
				req, _ = http.NewRequest(http.MethodPost, *target, strings.NewReader(*body))
			case "refresh":
				b, _ := json.Marshal(map[string]string{"refreshToken": refresh})
				req, _ = http.NewRequest(http.MethodPost, *target, bytes.NewReader(b))
			default:
				fail("unknown mode " + *mode)
			}
			req.Header = hdr.Clone()
			t0 := time.Now()
			if interval > 0 {
				t0 = start.Add(due) // the latency counts from when the request was due
				due += interval
			}
			resp, err := client.Do(req)
			if err != nil {
				myStatus["error"]++
				continue
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			myLat = append(myLat, time.Since(t0))
			ok := resp.StatusCode/100 == 2
			if *want != 0 {
				ok = resp.StatusCode == *want
			}
			if ok {
				myStatus[fmt.Sprint(resp.StatusCode)]++
			} else {
				myStatus[fmt.Sprintf("unexpected-%d", resp.StatusCode)]++
			}
			if *mode == "refresh" {
				var pair struct {
					RefreshToken string `json:"refreshToken"`
				}
				if json.Unmarshal(rb, &pair) != nil || pair.RefreshToken == "" {
					refresh = signForRefresh(client, *signURL, hdr, w) // chain broken: start a new one
				} else {
					refresh = pair.RefreshToken
				}
			}
		}
		return myLat, myStatus
	})
}

// runWorkers runs conc workers until dur has passed, each reporting its
// latencies and status counts, and prints the result line of the run.
func runWorkers(mode string, conc int, dur time.Duration, worker func(w int, deadline time.Time) ([]time.Duration, map[string]int)) {
	var (
		agg tally
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(dur)
	for w := range conc {
		wg.Go(func() { agg.add(worker(w, deadline)) })
	}
	wg.Wait()
	agg.print(mode, start)
}

// tally gathers the latencies and status counts of every worker.
type tally struct {
	mu       sync.Mutex
	lat      []time.Duration
	statuses map[string]int
}

func (t *tally) add(lat []time.Duration, statuses map[string]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lat = append(t.lat, lat...)
	if t.statuses == nil {
		t.statuses = map[string]int{}
	}
	for k, v := range statuses {
		t.statuses[k] += v
	}
}

// print writes the result line of a run that started at start.
func (t *tally) print(mode string, start time.Time) {
	elapsed := time.Since(start).Seconds()
	sort.Slice(t.lat, func(i, j int) bool { return t.lat[i] < t.lat[j] })
	pct := func(p float64) float64 {
		if len(t.lat) == 0 {
			return 0
		}
		return float64(t.lat[int(float64(len(t.lat)-1)*p)].Microseconds()) / 1000
	}
	out, _ := json.Marshal(result{Mode: mode, Requests: len(t.lat), Seconds: elapsed, RPS: float64(len(t.lat)) / elapsed,
		P50ms: pct(0.50), P99ms: pct(0.99), Statuses: t.statuses})
	fmt.Println(string(out))
}

// signForRefresh starts a refresh chain for worker w.
func signForRefresh(client *http.Client, signURL string, hdr http.Header, w int) string {
	body := fmt.Sprintf(`{"payload":{"sub":"bench-%d","user_id":"00000000-0000-4000-8000-%012d"}}`, w, w)
	req, _ := http.NewRequest(http.MethodPost, signURL, strings.NewReader(body))
	req.Header = hdr.Clone()
	resp, err := client.Do(req)
	if err != nil {
		fail("sign: " + err.Error())
	}
	defer resp.Body.Close()
	var pair struct {
		RefreshToken string `json:"refreshToken"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pair); err != nil || pair.RefreshToken == "" {
		fail(fmt.Sprintf("sign answered %d", resp.StatusCode))
	}
	return pair.RefreshToken
}

func isLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost"
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "loadgen:", msg)
	os.Exit(2)
}
