package main

// The oauth-refresh mode: each worker creates a grant through the token
// management API (as a login service does), then rotates its refresh token
// at the OAuth token endpoint (grant_type=refresh_token, client_secret_basic)
// for the rest of the run, so every request is a valid single-use refresh.
//
//	loadgen -mode oauth-refresh -url http://127.0.0.1:8080/oauth2/token \
//	    -create-url http://127.0.0.1:8080/api/demo/auth/token/create \
//	    -operator-key demo-operator-key -client web -secret w3b -c 16 -d 10s
//
// The mode lives in its own file and takes over before main parses its
// flags (main's modes are get, post and refresh); it prints the same JSON
// result line.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func init() {
	args := os.Args[1:]
	for i, a := range args {
		if a == "-mode=oauth-refresh" || a == "--mode=oauth-refresh" ||
			(a == "-mode" || a == "--mode") && i+1 < len(args) && args[i+1] == "oauth-refresh" {
			runOAuthRefresh(args)
			os.Exit(0)
		}
	}
}

func runOAuthRefresh(args []string) {
	fs := flag.NewFlagSet("loadgen oauth-refresh", flag.ExitOnError)
	fs.String("mode", "oauth-refresh", "oauth-refresh")
	target := fs.String("url", "", "token endpoint URL (loopback only)")
	createURL := fs.String("create-url", "", "management API .../auth/token/create URL")
	operatorKey := fs.String("operator-key", "", "operator key of the management API")
	client := fs.String("client", "web", "client_id (client_secret_basic)")
	secret := fs.String("secret", "", "client secret")
	conc := fs.Int("c", 16, "concurrent workers")
	dur := fs.Duration("d", 10*time.Second, "duration (at most 2m)")
	_ = fs.Parse(args)
	if *dur <= 0 || *dur > 2*time.Minute {
		fail("duration must be in (0, 2m]")
	}
	for _, u := range []string{*target, *createURL} {
		if u == "" || !isLoopback(u) {
			fail("-url and -create-url must be loopback URLs")
		}
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(*client)+":"+url.QueryEscape(*secret)))
	transport := &http.Transport{MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2, DisableCompression: true}
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	create := func(w int) string {
		body, _ := json.Marshal(map[string]any{
			"grantType": "AUTHORIZATION_CODE", "clientId": *client, "subject": fmt.Sprintf("bench-%d", w), "scopes": []string{},
		})
		req, _ := http.NewRequest(http.MethodPost, *createURL, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+*operatorKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			fail("create: " + err.Error())
		}
		defer resp.Body.Close()
		var out struct {
			RefreshToken string `json:"refreshToken"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.RefreshToken == "" {
			fail(fmt.Sprintf("create answered %d", resp.StatusCode))
		}
		return out.RefreshToken
	}

	runWorkers("oauth-refresh", *conc, *dur, func(w int, deadline time.Time) ([]time.Duration, map[string]int) {
		var myLat []time.Duration
		myStatus := map[string]int{}
		rt := create(w)
		for time.Now().Before(deadline) {
			form := "grant_type=refresh_token&refresh_token=" + url.QueryEscape(rt)
			req, _ := http.NewRequest(http.MethodPost, *target, strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", basic)
			t0 := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				myStatus["error"]++
				continue
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			myLat = append(myLat, time.Since(t0))
			var tr struct {
				RefreshToken string `json:"refresh_token"`
			}
			if resp.StatusCode == http.StatusOK && json.Unmarshal(rb, &tr) == nil && tr.RefreshToken != "" {
				myStatus["200"]++
				rt = tr.RefreshToken
			} else {
				myStatus[fmt.Sprintf("unexpected-%d", resp.StatusCode)]++
				rt = create(w) // chain broken: start a new grant
			}
		}
		return myLat, myStatus
	})
}
