package main

// The modes that measure the machine rather than the gateway, so that every
// figure of bench/run.sh has its physical limit from the same run:
//
//	fsync     write a 4 KiB page in place and fdatasync it, in a loop
//	          (-dir: where the file goes; one writer: a single committer
//	          is what the store has)
//	sign      raw signatures on -c goroutines: -alg ES256 (P-256, SHA-256,
//	          crypto/ecdsa) or RS256 (RSA-2048 PKCS#1 v1.5, crypto/rsa)
//	fanout    revocation fan-out between two instances on one store: -n
//	          sessions signed on -url (A) and used on -url-b (B), each
//	          invalidated on A while a probe polls B every 0.5 ms; the lag
//	          is from sending the invalidate to B's first refusal
//
// Each prints one JSON line like the other modes.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func init() {
	args := os.Args[1:]
	for i, a := range args {
		mode, ok := strings.CutPrefix(strings.TrimPrefix(a, "-"), "-mode=")
		if !ok && (a == "-mode" || a == "--mode") && i+1 < len(args) {
			mode = args[i+1]
		}
		if run, ok := map[string]func([]string){"fsync": runFsync, "sign": runSign, "fanout": runFanout}[mode]; ok {
			run(args)
			os.Exit(0)
		}
	}
}

// rate is the result line of the limit modes.
type rate struct {
	Mode    string  `json:"mode"`
	Ops     int     `json:"ops"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_s"`
	UsPerOp float64 `json:"us_per_op"`
	Workers int     `json:"workers"`
}

func printRate(mode string, ops, workers int, elapsed time.Duration) {
	out, _ := json.Marshal(rate{Mode: mode, Ops: ops, Seconds: elapsed.Seconds(), PerSec: float64(ops) / elapsed.Seconds(),
		UsPerOp: float64(elapsed.Microseconds()) / float64(max(ops, 1)), Workers: workers})
	fmt.Println(string(out))
}

func limitFlags(name string, args []string) (*flag.FlagSet, *int, *time.Duration) {
	fs := flag.NewFlagSet("loadgen "+name, flag.ExitOnError)
	fs.String("mode", name, name)
	conc := fs.Int("c", 1, "concurrent workers")
	dur := fs.Duration("d", 3*time.Second, "duration (at most 2m)")
	return fs, conc, dur
}

func checkDuration(d time.Duration) {
	if d <= 0 || d > 2*time.Minute {
		fail("duration must be in (0, 2m]")
	}
}

// runFsync measures how many 4 KiB in-place page writes, each made durable
// with fdatasync, the disk under -dir takes per second: the ceiling of a
// store that commits every write before answering.
func runFsync(args []string) {
	fs, _, dur := limitFlags("fsync", args)
	dir := fs.String("dir", os.TempDir(), "directory of the test file (the store's disk)")
	_ = fs.Parse(args)
	checkDuration(*dur)
	f, err := os.CreateTemp(*dir, "fsync-*.bin")
	if err != nil {
		fail(err.Error())
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	// A preallocated file, as a store's pages are: the loop measures page
	// writes, not file growth.
	for i := range 16 {
		if _, err := f.WriteAt(page, int64(i)*4096); err != nil {
			fail(err.Error())
		}
	}
	if err := f.Sync(); err != nil {
		fail(err.Error())
	}
	start := time.Now()
	deadline := start.Add(*dur)
	n := 0
	for time.Now().Before(deadline) {
		page[0] = byte(n)
		if _, err := f.WriteAt(page, int64(n%16)*4096); err != nil {
			fail(err.Error())
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			fail(err.Error())
		}
		n++
	}
	printRate("fsync", n, 1, time.Since(start))
}

// runSign measures raw signatures (or, with -op verify, verifications)
// per second on -c goroutines: the ceiling of every endpoint that makes
// one such operation per request, and the parts of the bound of one that
// makes several (an EDI refresh).
func runSign(args []string) {
	fs, conc, dur := limitFlags("sign", args)
	alg := fs.String("alg", "ES256", "ES256 or RS256")
	op := fs.String("op", "sign", "sign or verify")
	_ = fs.Parse(args)
	checkDuration(*dur)
	digest := sha256.Sum256([]byte("tokengate bench"))
	var sign func(digest []byte) error
	switch *alg {
	case "ES256":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		sign = func(d []byte) error { _, err := ecdsa.SignASN1(rand.Reader, k, d); return err }
		if *op == "verify" {
			sig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
			sign = func(d []byte) error {
				if !ecdsa.VerifyASN1(&k.PublicKey, d, sig) {
					return errors.New("ES256 signature does not verify")
				}
				return nil
			}
		}
	case "RS256":
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		sign = func(d []byte) error { _, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d); return err }
		if *op == "verify" {
			sig, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
			sign = func(d []byte) error { return rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, d, sig) }
		}
	default:
		fail("unknown -alg " + *alg)
	}
	if *op != "sign" && *op != "verify" {
		fail("unknown -op " + *op)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	start := time.Now()
	deadline := start.Add(*dur)
	for range *conc {
		wg.Go(func() {
			n := 0
			for time.Now().Before(deadline) {
				if err := sign(digest[:]); err != nil {
					fail(err.Error())
				}
				n++
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	printRate(*op+"-"+*alg, total, *conc, time.Since(start))
}

// fanoutResult is the result line of the fanout mode.
type fanoutResult struct {
	Mode        string  `json:"mode"`
	Revocations int     `json:"revocations"`
	LagP50ms    float64 `json:"lag_p50_ms"`
	LagP99ms    float64 `json:"lag_p99_ms"`
	LagMaxms    float64 `json:"lag_max_ms"`
	AnswerP50ms float64 `json:"answer_p50_ms"`
	AnswerP99ms float64 `json:"answer_p99_ms"`
	Failures    int     `json:"failures"`
}

// runFanout measures, over -n sessions, the time from sending
// POST /token/invalidate to instance A until instance B refuses the
// session's access token (which B had in its verification cache), as the
// integration test TestRedisTwoInstancesRevocationFanOut does.
func runFanout(args []string) {
	fs := flag.NewFlagSet("loadgen fanout", flag.ExitOnError)
	fs.String("mode", "fanout", "fanout")
	urlA := fs.String("url", "", "base URL of instance A (loopback)")
	urlB := fs.String("url-b", "", "base URL of instance B (loopback)")
	tenant := fs.String("tenant", "diku", "X-Okapi-Tenant")
	n := fs.Int("n", 200, "revocations (at most 2000)")
	_ = fs.Parse(args)
	if !isLoopback(*urlA) || !isLoopback(*urlB) {
		fail("-url and -url-b must be loopback URLs")
	}
	if *n < 1 || *n > 2000 {
		fail("-n must be in [1, 2000]")
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	probe := &http.Client{Timeout: 5 * time.Second}
	do := func(c *http.Client, method, u string, body []byte, hdr ...string) (int, []byte) {
		req, _ := http.NewRequest(method, u, bytes.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	res := fanoutResult{Mode: "fanout"}
	var lag, answer []time.Duration
	for i := range *n {
		body := fmt.Appendf(nil, `{"payload":{"sub":"fanout-%d","user_id":"00000000-0000-4000-8000-%012d"}}`, i, i)
		st, rb := do(hc, "POST", *urlA+"/token/sign", body, "X-Okapi-Tenant", *tenant)
		var pair struct {
			AccessToken  string `json:"accessToken"`
			RefreshToken string `json:"refreshToken"`
		}
		if st != http.StatusCreated || json.Unmarshal(rb, &pair) != nil {
			fail(fmt.Sprintf("sign on A answered %d", st))
		}
		bearer := "Bearer " + pair.AccessToken
		if st, _ := do(hc, "GET", *urlB+"/x", nil, "Authorization", bearer); st != http.StatusOK {
			fail(fmt.Sprintf("B refused a fresh token: %d", st))
		}
		refused := make(chan time.Duration, 1)
		stop := make(chan struct{})
		start := time.Now()
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if st, _ := do(probe, "GET", *urlB+"/x", nil, "Authorization", bearer); st == http.StatusUnauthorized {
					refused <- time.Since(start)
					return
				}
				// The probe measures; it must not take the CPU A and B need.
				time.Sleep(500 * time.Microsecond)
			}
		}()
		inv, _ := json.Marshal(map[string]string{"refreshToken": pair.RefreshToken})
		st, _ = do(hc, "POST", *urlA+"/token/invalidate", inv, "X-Okapi-Tenant", *tenant)
		answer = append(answer, time.Since(start))
		if st != http.StatusNoContent {
			fail(fmt.Sprintf("invalidate on A answered %d", st))
		}
		// B's next request after A's answer must be refused: A answers
		// only once every live instance applied the revocation.
		if st, _ := do(hc, "GET", *urlB+"/x", nil, "Authorization", bearer); st != http.StatusUnauthorized {
			res.Failures++
		}
		select {
		case d := <-refused:
			lag = append(lag, d)
		case <-time.After(5 * time.Second):
			res.Failures++
		}
		close(stop)
	}
	ms := func(ds []time.Duration, p float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(float64(len(s))*p))].Microseconds()) / 1000
	}
	res.Revocations = len(lag)
	res.LagP50ms, res.LagP99ms, res.LagMaxms = ms(lag, 0.5), ms(lag, 0.99), ms(lag, 1)
	res.AnswerP50ms, res.AnswerP99ms = ms(answer, 0.5), ms(answer, 0.99)
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}
