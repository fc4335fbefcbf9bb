package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestSignedGrantsSurviveKill: "a 201 means the grant survives kill -9"
// (issue 10), on the embedded store, through a real Caddy. About 200
// sessions are signed concurrently (so bbolt's group committer commits
// them in groups); the moment the last
// 201 has arrived, Caddy is killed with SIGKILL (no cleanup, no Close, no
// flush). Started again on the same store, every refresh token received
// must refresh once (201); Caddy is killed again, and after a second start
// a second use of each token must be refused (401): the rotations survived
// too. Each session has its own user, because a replay revokes every
// session of the user.
//
// What SIGKILL can show: an acknowledged write had left the process (it is
// in the file, or the WAL, in the kernel's page cache) before the 201. A
// store that answered before writing, or that kept writes in memory, fails
// here: with the Pebble store evaluated for issue 10 committing with
// pebble.NoSync instead of pebble.Sync (the log's tail then waits in the
// process), 9 to 10 of the 200 sessions were lost in each of three runs.
// That the write was also fsynced (survives a power loss, not only a kill)
// is below what a kill can show: bbolt fsyncs every commit before the
// committer answers (tokencore/store/bolt/commit.go).
func TestSignedGrantsSurviveKill(t *testing.T) {
	const sessions, workers = 200, 16
	tests := []struct {
		name  string
		store string // the store line of the Caddyfile
	}{
		{"bolt", "store bolt {{.Dir}}/state/tokengate.db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := strings.Replace(folioCaddyfile, "store bolt {{.Dir}}/state/tokengate.db", tc.store, 1)
			if !strings.Contains(cfg, tc.store) {
				t.Fatal("the store line of folioCaddyfile changed")
			}
			g := startGateway(t, cfg, "/admin/health")

			pairs := make([]folioPair, sessions)
			errs := make([]error, sessions)
			next := make(chan int)
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for i := range next {
						pairs[i], errs[i] = signDurable(g, i)
					}
				})
			}
			for i := range sessions {
				next <- i
			}
			close(next)
			wg.Wait()
			g.crash() // the moment the last 201 arrived
			for i, err := range errs {
				if err != nil {
					t.Fatalf("sign %d: %v", i, err)
				}
			}

			g.start()
			lost := 0
			for i, p := range pairs {
				if r := refresh(g, "diku", p.RefreshToken); r.Status != http.StatusCreated {
					lost++
					t.Errorf("session %d signed before the kill: refresh %d %s", i, r.Status, r.Body)
				}
			}
			if lost > 0 {
				t.Fatalf("%d of %d acknowledged sessions lost by kill -9", lost, sessions)
			}
			// The rotations survive a kill too: after another one, a second
			// use of each token is a replay.
			g.crash()
			g.start()
			for i, p := range pairs {
				if r := refresh(g, "diku", p.RefreshToken); r.Status != http.StatusUnauthorized {
					t.Errorf("session %d: second use of a refresh token: %d %s, want 401", i, r.Status, r.Body)
				}
			}
		})
	}
}

// signDurable signs session i (its own user) and returns the pair if the
// answer was a 201 with a refresh token. It runs on the test's workers:
// it reports errors instead of failing the test.
func signDurable(g *gateway, i int) (folioPair, error) {
	body := fmt.Sprintf(`{"payload":{"sub":"user-%03d","user_id":"6d1f7a52-0b7e-4c1a-9d3e-%012d"}}`, i, i)
	req, err := http.NewRequest("POST", g.url("/token/sign"), strings.NewReader(body))
	if err != nil {
		return folioPair{}, err
	}
	req.Header.Set("X-Okapi-Tenant", "diku")
	resp, err := g.client.Do(req)
	if err != nil {
		return folioPair{}, err
	}
	defer resp.Body.Close()
	var p folioPair
	if resp.StatusCode != http.StatusCreated {
		return p, fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.RefreshToken == "" {
		return p, fmt.Errorf("body: %v (refresh token %q)", err, p.RefreshToken)
	}
	return p, nil
}
