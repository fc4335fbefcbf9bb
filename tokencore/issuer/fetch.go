package issuer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// fetcher does the issuer's HTTP: bounded bodies, a timeout per request, the
// URL policy on every redirect too.
type fetcher struct {
	cfg    *Config
	client *http.Client
}

func newFetcher(cfg *Config, base *http.Client) *fetcher {
	c := &http.Client{Timeout: cfg.FetchTimeout}
	if base != nil {
		c.Transport = base.Transport
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return errors.New("too many redirects")
		}
		return cfg.checkURL(req.URL.String())
	}
	return &fetcher{cfg: cfg, client: c}
}

// get fetches url and returns its body and the Cache-Control max-age
// (negative when absent, 0 for no-cache / no-store).
func (f *fetcher) get(ctx context.Context, url string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	body, resp, err := f.do(req)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return body, maxAge(resp.Header.Values("Cache-Control")), nil
}

// do sends req and reads at most MaxDocumentBytes of the answer.
func (f *fetcher) do(req *http.Request) ([]byte, *http.Response, error) {
	if err := f.cfg.checkURL(req.URL.String()); err != nil {
		return nil, nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading: %w", req.Method, req.URL, err)
	}
	if len(body) > MaxDocumentBytes {
		return nil, nil, fmt.Errorf("%s %s: answer larger than %d bytes", req.Method, req.URL, MaxDocumentBytes)
	}
	if err := tokencore.CheckStrictJSON(body); err != nil && resp.StatusCode == http.StatusOK {
		return nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	return body, resp, nil
}

// maxAge reads max-age from Cache-Control header values: no-store and
// no-cache count as 0, absence as -1.
func maxAge(values []string) time.Duration {
	age := time.Duration(-1)
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			switch {
			case d == "no-store" || d == "no-cache":
				return 0
			case strings.HasPrefix(d, "max-age="):
				if n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64); err == nil && n >= 0 && n < 1<<31 {
					age = time.Duration(n) * time.Second
				}
			}
		}
	}
	return age
}
