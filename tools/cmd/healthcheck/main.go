// Command healthcheck GETs a URL and exits 0 when it answers 2xx, 1
// otherwise. The service images are distroless, without a shell or curl; the
// Dockerfile copies this static binary into each, for docker-compose's
// healthchecks against the ops port:
//
//	healthcheck http://127.0.0.1:9102/readyz
//
// It imports nothing but the standard library, so the image build compiles it
// without downloading this module's dependencies.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// timeout bounds the whole check; compose's own timeout is longer.
const timeout = 3 * time.Second

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck URL")
		os.Exit(2)
	}
	if err := check(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// check reports whether url answers a GET with a 2xx within timeout.
func check(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// The body says which check failed; it goes to the compose health log.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return nil
}
