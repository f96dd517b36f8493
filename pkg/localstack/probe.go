package localstack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vpnbot/vpnbot/pkg/procs"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// waitReady polls the service's /readyz until it answers 200, the process
// exits, or readyTimeout passes.
func (s *Stack) waitReady(ctx context.Context, label, opsAddr string, p *procs.Proc) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	url := "http://" + opsAddr + "/readyz"
	last := "no answer yet"
	for {
		status, body, err := Probe(ctx, s.http, url)
		switch {
		case err != nil:
			last = err.Error()
		case status == http.StatusOK:
			return nil
		default:
			last = fmt.Sprintf("%d %s", status, bytes.TrimSpace(body))
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited before it was ready: %v", label, p.Err())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (%s): %w", label, last, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// waitWebhook waits until the sandbox delivers to the gateway, which the
// gateway asks for at start (setWebhook), as it would ask Telegram: until
// then an update a test sends would wait in the sandbox. With a real Bot API
// it returns at once: whether Telegram reaches Config.WebhookPublicURL is
// beyond this machine.
func (s *Stack) waitWebhook(ctx context.Context) error {
	if s.Sandbox == nil {
		return nil
	}
	api, err := telegram.New(telegram.Config{APIURL: s.Sandbox.URL(), Token: s.cfg.Token})
	if err != nil {
		return err
	}
	defer api.Close()
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		info, err := api.GetWebhookInfo(ctx)
		url := info.URL
		if err == nil && url == s.WebhookURL {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the gateway did not register its webhook %s with the sandbox (have %q, %v): %w",
				s.WebhookURL, url, err, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// Probe GETs url, an ops endpoint such as OpsURL + "/readyz", with c and
// returns its status and body (at most 4 MiB): how the Stack waits for a
// service and how its console shows one.
func Probe(ctx context.Context, c *http.Client, url string) (status int, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, body, err
}

// Metrics scrapes a service's /metrics (see OpsURL for service and replica)
// and returns the value of every metric name summed over its series, so
// m["vpnbot_bot_updates_total"] counts the updates of every outcome.
// Each series is there too under its exposition name with sorted labels,
// e.g. m[`vpnbot_bot_updates_total{outcome="handled"}`]. A histogram or
// summary gives <name>_count and <name>_sum, as in the text format.
func (s *Stack) Metrics(ctx context.Context, service string, replica int) (map[string]float64, error) {
	base := s.OpsURL(service, replica)
	if base == "" {
		return nil, fmt.Errorf("scraping %s %d: no such service", service, replica)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scraping %s %d: %w", service, replica, err)
	}
	// The text format is the one expfmt's parser reads.
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s %d: %w", service, replica, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s %d: %s", service, replica, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scraping %s %d: parsing: %w", service, replica, err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			labels := SeriesLabels(m)
			add := func(name string, v float64) {
				out[name] += v
				out[name+labels] += v
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				add(name, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, m.GetGauge().GetValue())
			case dto.MetricType_HISTOGRAM:
				add(name+"_count", float64(m.GetHistogram().GetSampleCount()))
				add(name+"_sum", m.GetHistogram().GetSampleSum())
			case dto.MetricType_SUMMARY:
				add(name+"_count", float64(m.GetSummary().GetSampleCount()))
				add(name+"_sum", m.GetSummary().GetSampleSum())
			default:
				add(name, m.GetUntyped().GetValue())
			}
		}
	}
	return out, nil
}

// SeriesLabels renders a series' labels as the text format does, sorted:
// {a="x",b="y"}; empty without labels. Metrics keys series by it.
func SeriesLabels(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	pairs := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(pairs)
	return "{" + strings.Join(pairs, ",") + "}"
}
