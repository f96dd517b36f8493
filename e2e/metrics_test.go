package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// ruleFiles are Prometheus's rule files, relative to the e2e module: the
// alerts (vpnbot.yml), and the SLOs' recording rules and alerts (slo.yml).
const ruleFiles = "../deploy/prometheus/rules/*.yml"

// runbookDir holds one runbook per alert.
const runbookDir = "../docs/runbooks"

// scrapedServices are the services with a dashboard, whose /metrics the
// dashboards and alerts may query.
var scrapedServices = []string{
	localstack.Gateway, localstack.BotHandler, localstack.Sender, localstack.Activation,
	localstack.PaymentWatcher, localstack.Reminders, localstack.TrialNotifier, localstack.ExpiryCleanup, localstack.KeyServer,
	localstack.WebApp,
}

// trialPayer is the user of driveTrialAndPayment, and requiredChannel
// the channel they are a member of.
const (
	trialPayer      = 7070
	requiredChannel = "@vpnbot_news"
)

// prometheusOwn are series Prometheus makes itself, not a service.
var prometheusOwn = map[string]bool{"up": true}

// exported is what one service's /metrics shows: each series name (a
// histogram's _bucket, _sum and _count) and the label names it carries.
type exported map[string]map[string]bool

// queried is one PromQL expression and where it is used.
type queried struct {
	where, expr string
}

// TestEveryQueriedMetricIsExported runs the whole system, drives a user
// through a trial and a Crypto Pay payment so every vector has its series,
// then reads each service's real /metrics and checks every series that a
// dashboard panel or an alert rule selects: the name exists, in the service
// its job="…" names when it names one, with every label it matches on. A
// panel or alert on a metric nobody exports shows nothing at night, or never
// fires.
func TestEveryQueriedMetricIsExported(t *testing.T) {
	t.Parallel()
	rules, recorded := ruleQueries(t)
	queries := append(dashboardQueries(t), rules...)
	require.NotEmpty(t, queries)

	// The required channel is on, so that its checks have their series;
	// the user is a member.
	s := start(t, options{workers: true, env: []string{"REQUIRED_CHANNEL=" + requiredChannel}})
	require.NoError(t, s.Sandbox.SetChatMember(requiredChannel, trialPayer, sandboxtg.ChatMember{Status: sandboxtg.StatusMember}))
	s.driveTrialAndPayment()
	byService := map[string]exported{}
	for _, name := range scrapedServices {
		byService[name] = s.scrape(name)
	}

	var problems []string
	for _, q := range queries {
		for _, sel := range selectors(t, q) {
			// A recorded series is checked through its rule's expression.
			if prometheusOwn[sel.Name] || recorded[sel.Name] {
				continue
			}
			if p := checkSelector(byService, sel); p != "" {
				problems = append(problems, fmt.Sprintf("%s: %s\n\t%s", q.where, p, q.expr))
			}
		}
	}
	require.Empty(t, problems, "queries on series no service exports:\n%s", strings.Join(problems, "\n"))
}

// driveTrialAndPayment has a user start the bot, take the trial (activation
// creates the key, the sender delivers it), order a plan with Crypto Pay and
// pay it (gateway webhook, payment-watcher).
func (s *system) driveTrialAndPayment() {
	s.t.Helper()
	const user = trialPayer
	s.Sandbox.SendText(user, "/start")
	menu := s.waitScreen(user, "the main menu", withButton(cbTrial))
	s.press(user, menu, cbTrial)
	s.waitScreen(user, "with the key", func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, "ss://") })
	menu = s.newMenu(user)
	s.press(user, menu, cbPlans)
	plans := s.waitScreen(user, "listing the plans", withButton(cbPlan))
	s.press(user, plans, cbPlan)
	plan := s.waitScreen(user, "offering the ways to pay", withButton(cbPayCrypto))
	s.press(user, plan, cbPayCrypto)
	s.waitScreen(user, "with a pay link", func(m sandboxtg.Message) bool { return m.ButtonURL() != "" })
	// The payment-watcher's poller asks Crypto Pay about the pending
	// invoice (every 10 s here) before the webhook applies it.
	s.waitMetric(localstack.PaymentWatcher, "vpnbot_cryptopay_requests_total")
	invoices := s.CryptoPay.Invoices()
	require.Len(s.t, invoices, 1)
	_, err := s.CryptoPay.MarkPaid(invoices[0].InvoiceID)
	require.NoError(s.t, err)
	s.waitScreen(user, "saying the payment arrived", func(m sandboxtg.Message) bool {
		return strings.Contains(m.Plain, "Payment received")
	})
}

// waitMetric waits until service exports a series of name.
func (s *system) waitMetric(service, name string) {
	s.t.Helper()
	require.Eventually(s.t, func() bool {
		_, ok := s.scrape(service)[name]
		return ok
	}, time.Minute, 200*time.Millisecond, "%s does not export %s", service, name)
}

// scrape reads service's /metrics (its first replica).
func (s *system) scrape(service string) exported {
	s.t.Helper()
	resp, err := s.http.Get(s.OpsURL(service, 0) + "/metrics")
	require.NoError(s.t, err, "scraping %s", service)
	defer resp.Body.Close()
	require.Equal(s.t, http.StatusOK, resp.StatusCode, "scraping %s", service)
	body, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(s.t, err, "parsing the /metrics of %s", service)
	out := exported{}
	for name, f := range families {
		names := []string{name}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names = []string{name + "_bucket", name + "_sum", name + "_count"}
		case dto.MetricType_SUMMARY:
			names = []string{name, name + "_sum", name + "_count"}
		}
		for _, n := range names {
			labelNames := map[string]bool{"le": strings.HasSuffix(n, "_bucket")}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					labelNames[l.GetName()] = true
				}
			}
			out[n] = labelNames
		}
	}
	return out
}

// checkSelector says what is wrong with sel, or "" when some service (the
// one its job matcher names, if any) exports it with every label it matches.
func checkSelector(byService map[string]exported, sel *parser.VectorSelector) string {
	candidates := scrapedServices
	for _, m := range sel.LabelMatchers {
		if m.Name == "job" && m.Type == labels.MatchEqual {
			candidates = []string{m.Value}
		}
	}
	var missingLabels []string
	for _, svc := range candidates {
		labelNames, ok := byService[svc][sel.Name]
		if !ok {
			continue
		}
		missingLabels = missingLabels[:0]
		for _, m := range sel.LabelMatchers {
			// job and instance are Prometheus's target labels.
			if m.Name == labels.MetricName || m.Name == "job" || m.Name == "instance" {
				continue
			}
			if !labelNames[m.Name] {
				missingLabels = append(missingLabels, m.Name)
			}
		}
		if len(missingLabels) == 0 {
			return ""
		}
	}
	if missingLabels != nil {
		return fmt.Sprintf("%s has no label %v in %v", sel.Name, missingLabels, candidates)
	}
	return fmt.Sprintf("%s is not exported by %v", sel.Name, candidates)
}

// grafanaVars are the dashboard variables and what stands for them when an
// expression is parsed outside Grafana.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// selectors parses q and returns its series selectors.
func selectors(t *testing.T, q queried) []*parser.VectorSelector {
	t.Helper()
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars.Replace(q.expr))
	require.NoError(t, err, "%s: parsing %s", q.where, q.expr)
	var out []*parser.VectorSelector
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// dashboardQueries returns every panel query of the generated dashboards
// on disk, and their variables' queries.
func dashboardQueries(t *testing.T) []queried {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardDir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, len(scrapedServices)+2, "a dashboard per service, the overview and the SLOs")
	var out []queried
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(raw, &d), f)
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				out = append(out, queried{fmt.Sprintf("%s panel %q", filepath.Base(f), p.Title), tg.Expr})
			}
		}
		for _, v := range d.Templating.List {
			// label_values(selector, label) is Grafana's, not PromQL: its
			// selector is checked alone.
			if m := labelValues.FindStringSubmatch(v.Query); m != nil {
				out = append(out, queried{fmt.Sprintf("%s variable %s", filepath.Base(f), v.Name), m[1]})
			}
		}
	}
	return out
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// ruleFile is the part of a Prometheus rule file the checks read.
type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Record      string
			Alert       string
			Expr        string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

// ruleQueries returns every rule's expression, after checking that each
// alert says how bad it is and links a runbook that exists, and the names
// the recording rules record, which no service exports.
func ruleQueries(t *testing.T) (out []queried, recorded map[string]bool) {
	t.Helper()
	files, err := filepath.Glob(ruleFiles)
	require.NoError(t, err)
	require.NotEmpty(t, files, ruleFiles)
	recorded = map[string]bool{}
	var names []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var rules ruleFile
		require.NoError(t, yaml.Unmarshal(raw, &rules), f)
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
					out = append(out, queried{"recording rule " + r.Record, r.Expr})
					continue
				}
				require.NotEmpty(t, r.Alert, "group %s: a rule records or alerts", g.Name)
				names = append(names, r.Alert)
				require.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], "%s: severity", r.Alert)
				require.NotEmpty(t, r.Annotations["summary"], "%s: summary", r.Alert)
				runbook := "docs/runbooks/" + r.Alert + ".md"
				require.True(t, strings.HasSuffix(r.Annotations["runbook_url"], "/"+runbook), "%s: runbook_url %q should end in %s", r.Alert, r.Annotations["runbook_url"], runbook)
				_, err := os.Stat(filepath.Join(runbookDir, r.Alert+".md"))
				require.NoError(t, err, "%s: its runbook", r.Alert)
				out = append(out, queried{"alert " + r.Alert, r.Expr})
			}
		}
	}
	// Each runbook belongs to an alert: none is left behind by a rename.
	runbooks, err := filepath.Glob(filepath.Join(runbookDir, "*.md"))
	require.NoError(t, err)
	var orphans []string
	for _, f := range runbooks {
		name := strings.TrimSuffix(filepath.Base(f), ".md")
		if name != "README" && !slices.Contains(names, name) {
			orphans = append(orphans, name)
		}
	}
	sort.Strings(orphans)
	require.Empty(t, orphans, "runbooks without an alert")
	return out, recorded
}

// TestDashboardAndAlertQueriesParse checks, without a running system, that
// every query (dashboards, alerts, recording rules) is PromQL Prometheus
// accepts and selects some series, and that every recorded series a query
// reads is recorded by a rule.
func TestDashboardAndAlertQueriesParse(t *testing.T) {
	rules, recorded := ruleQueries(t)
	for _, q := range append(dashboardQueries(t), rules...) {
		sels := selectors(t, q)
		require.NotEmpty(t, sels, "%s selects no series: %s", q.where, q.expr)
		for _, sel := range sels {
			// A colon is the recording rules' naming (level:metric:operations).
			if strings.Contains(sel.Name, ":") {
				require.True(t, recorded[sel.Name], "%s reads %s, which no rule records", q.where, sel.Name)
			}
		}
	}
}
