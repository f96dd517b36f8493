package webapp_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/services/webapp/internal/webapp"
)

// benchConns is the load's connections, as wrk -c 64.
const benchConns = 64

// firstLoad is what a phone fetches to show the app the first time: the
// page, its script and its style (the QR code and the API's JSON come
// after it is drawn).
var firstLoad = []string{"/", "/static/app.js", "/static/app.css"}

// maxFirstLoad is the goal for firstLoad, gzip-compressed as a proxy in
// front serves it.
const maxFirstLoad = 150 << 10

func TestTheFirstLoadIsSmall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw, compressed := firstLoadSize(t, e)
	t.Logf("first load: %d bytes, %d gzipped", raw, compressed)
	require.LessOrEqual(t, compressed, maxFirstLoad)
}

func firstLoadSize(t testing.TB, e *env) (raw, compressed int) {
	t.Helper()
	for _, path := range firstLoad {
		res := e.request(t, http.MethodGet, path, "", nil, nil)
		require.Equal(t, http.StatusOK, res.Code, path)
		var z bytes.Buffer
		w, err := gzip.NewWriterLevel(&z, gzip.DefaultCompression)
		require.NoError(t, err)
		_, err = w.Write(res.Body.Bytes())
		require.NoError(t, err)
		require.NoError(t, w.Close())
		raw += res.Body.Len()
		compressed += z.Len()
	}
	return raw, compressed
}

// BenchmarkSubscriptionAPI loads GET /api/me, the subscription screen's
// read, over TCP with benchConns connections as one signed-in user with a
// trial and its key, and a bare net/http handler answering a JSON body of
// the same size on the same machine; it reports both one's requests a
// second and p99, and the app's share of the bare rate. Goals: a share of
// at least 0.5, a p99 of at most 20 ms. Any answer but 200 fails it. b.N
// is the requests of each run: -benchtime 20000x.
func BenchmarkSubscriptionAPI(b *testing.B) {
	e := newEnv(b, func(c *webapp.Config) {
		// The load is one user: what is measured is the read, not the limit.
		c.IPRate, c.IPBurst, c.UserRate, c.UserBurst = 1e9, 1e9, 1e9, 1e9
	})
	const user = 777001
	e.user(b, user, "en")
	e.trialWithKey(b, user, "ss://Y2hhY2hh@vpn.example.com:443/?outline=1")
	s := e.signIn(b, user)
	body := e.get(b, s, "/api/me").Body.Bytes()
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})

	bareRate, bareP99 := load(b, bare, nil)
	appRate, appP99 := load(b, e.handler, s.cookie)
	b.ReportMetric(appRate, "me-req/s")
	b.ReportMetric(ms(appP99), "me-p99-ms")
	b.ReportMetric(bareRate, "bare-req/s")
	b.ReportMetric(ms(bareP99), "bare-p99-ms")
	b.ReportMetric(appRate/bareRate, "share-of-bare")
	_, compressed := firstLoadSize(b, e)
	b.ReportMetric(float64(compressed)/1024, "first-load-KB-gz")
}

// load sends b.N GETs of /api/me to h over TCP from benchConns
// connections at once, and returns the requests a second and the p99.
func load(b *testing.B, h http.Handler, cookie *http.Cookie) (rate float64, p99 time.Duration) {
	b.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConns, MaxConnsPerHost: benchConns}}
	defer client.CloseIdleConnections()
	jobs := make(chan struct{}, b.N)
	for range b.N {
		jobs <- struct{}{}
	}
	close(jobs)
	var (
		mu   sync.Mutex
		took []time.Duration
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range benchConns {
		wg.Go(func() {
			var mine []time.Duration
			for range jobs {
				req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/me", nil)
				if err != nil {
					b.Error(err)
					return
				}
				if cookie != nil {
					req.AddCookie(cookie)
				}
				sent := time.Now()
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Errorf("GET /api/me: %d", res.StatusCode)
					return
				}
				mine = append(mine, time.Since(sent))
			}
			mu.Lock()
			took = append(took, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(took)
	if len(took) == 0 {
		b.Fatal("no request succeeded")
	}
	return float64(len(took)) / elapsed.Seconds(), took[(len(took)*99+99)/100-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
