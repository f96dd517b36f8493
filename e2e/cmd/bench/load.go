package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpnbot/vpnbot/pkg/bus"
)

// loadResult is what one closed-loop load run measured.
type loadResult struct {
	name      string
	requests  int
	errors    int
	duration  time.Duration
	latencies []time.Duration // of successful requests, sorted
}

func (r loadResult) throughput() float64 { return float64(r.requests) / r.duration.Seconds() }

func (r loadResult) percentile(p float64) time.Duration { return percentile(r.latencies, p) }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

// target is an HTTP endpoint under load and how to dress a request for it.
type target struct {
	name     string
	url      string
	decorate func(h http.Header, updateID int64, chatID int64)
}

// updateBody is a realistic private-chat text message update, ~350 bytes.
func updateBody(updateID, chatID int64) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,"first_name":"Load","username":"load_%d","language_code":"en"},"chat":{"id":%d,"first_name":"Load","username":"load_%d","type":"private"},"date":1764250000,"text":"hello, how do I connect on Android?"}}`,
		updateID, updateID, chatID, chatID, chatID, chatID)
}

// runLoad keeps conns requests in flight against t for d (after a warm-up
// that is not measured) and returns what it saw.
func runLoad(ctx context.Context, t target, conns int, warmup, d time.Duration, nextID *atomic.Int64) loadResult {
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
	}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+d)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		requests  int
		errors    int
		wg        sync.WaitGroup
	)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			localErr := 0
			for ctx.Err() == nil {
				id := nextID.Add(1)
				chat := int64(1_000_000 + (id*7919+int64(w))%1000)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(updateBody(id, chat)))
				if err != nil {
					panic(err) // a malformed URL is a bug in this program
				}
				req.Header.Set("Content-Type", "application/json")
				t.decorate(req.Header, id, chat)
				sent := time.Now()
				if sent.After(end) {
					break
				}
				resp, err := client.Do(req)
				took := time.Since(sent)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if sent.Before(measureFrom) {
					continue
				}
				if ok {
					local = append(local, took)
				} else {
					localErr++
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			requests += len(local)
			errors += localErr
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(latencies)
	return loadResult{name: t.name, requests: requests, errors: errors, duration: d, latencies: latencies}
}

func gatewayTarget(url, secret string) target {
	return target{name: "gateway", url: url + "/telegram/webhook", decorate: func(h http.Header, _, _ int64) {
		h.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}}
}

func ceilingTarget(url string, botID int64, partitions int) target {
	return target{name: "ceiling (bare publish)", url: url, decorate: func(h http.Header, updateID, chatID int64) {
		h.Set("X-Bench-Msg-Id", strconv.FormatInt(botID, 10)+":"+strconv.FormatInt(updateID, 10))
		h.Set("X-Bench-Partition", strconv.Itoa(bus.Partition(chatID, partitions)))
	}}
}
