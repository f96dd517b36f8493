package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The Grafana dashboards in deploy/grafana/dashboards are generated here:
// one per service plus an overview, built from the same few sections so that
// each service's page reads alike at night. After changing them, run
//
//	cd e2e && go test -run TestDashboardsAreCurrent -update-dashboards
//
// TestDashboardsAreCurrent fails while the files differ from what this code
// generates, and TestEveryQueriedMetricIsExported (metrics_test.go) checks
// every metric they query against the services' real /metrics.
var updateDashboards = flag.Bool("update-dashboards", false, "rewrite deploy/grafana/dashboards from the generator")

// dashboardDir is where the dashboards live, relative to the e2e module.
const dashboardDir = "../deploy/grafana/dashboards"

// datasource is the provisioned Prometheus datasource
// (deploy/grafana/provisioning/datasources/prometheus.yml).
var datasource = map[string]string{"type": "prometheus", "uid": "prometheus"}

// Grafana's JSON model, as much of it as the dashboards use.
type (
	dashboard struct {
		UID           string     `json:"uid"`
		Title         string     `json:"title"`
		Description   string     `json:"description"`
		Tags          []string   `json:"tags"`
		Timezone      string     `json:"timezone"`
		Editable      bool       `json:"editable"`
		SchemaVersion int        `json:"schemaVersion"`
		Version       int        `json:"version"`
		Refresh       string     `json:"refresh"`
		Time          timeRange  `json:"time"`
		Templating    templating `json:"templating"`
		Links         []link     `json:"links"`
		Panels        []panel    `json:"panels"`
	}
	timeRange struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	templating struct {
		List []variable `json:"list"`
	}
	variable struct {
		Name       string            `json:"name"`
		Label      string            `json:"label"`
		Type       string            `json:"type"`
		Datasource map[string]string `json:"datasource"`
		Query      string            `json:"query"`
		Definition string            `json:"definition"`
		Refresh    int               `json:"refresh"`
		IncludeAll bool              `json:"includeAll"`
		Multi      bool              `json:"multi"`
		AllValue   string            `json:"allValue"`
		Current    map[string]any    `json:"current"`
	}
	link struct {
		Title       string   `json:"title"`
		Type        string   `json:"type"`
		Tags        []string `json:"tags"`
		AsDropdown  bool     `json:"asDropdown"`
		IncludeVars bool     `json:"includeVars"`
		KeepTime    bool     `json:"keepTime"`
	}
	panel struct {
		ID          int               `json:"id"`
		Type        string            `json:"type"`
		Title       string            `json:"title"`
		Description string            `json:"description,omitempty"`
		GridPos     gridPos           `json:"gridPos"`
		Datasource  map[string]string `json:"datasource,omitempty"`
		Targets     []target          `json:"targets,omitempty"`
		FieldConfig *fieldConfig      `json:"fieldConfig,omitempty"`
		Options     map[string]any    `json:"options,omitempty"`
		Collapsed   *bool             `json:"collapsed,omitempty"`
	}
	gridPos struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	}
	target struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		// Exemplar shows a latency's exemplars: each links to the trace
		// of a request it measured.
		Exemplar bool `json:"exemplar,omitempty"`
	}
	fieldConfig struct {
		Defaults  fieldDefaults `json:"defaults"`
		Overrides []any         `json:"overrides"`
	}
	fieldDefaults struct {
		Unit       string         `json:"unit"`
		Min        *float64       `json:"min,omitempty"`
		Thresholds *thresholds    `json:"thresholds,omitempty"`
		Custom     map[string]any `json:"custom,omitempty"`
	}
	thresholds struct {
		Mode  string `json:"mode"`
		Steps []step `json:"steps"`
	}
	step struct {
		Color string   `json:"color"`
		Value *float64 `json:"value"`
	}
)

// query is one PromQL expression of a panel and its legend.
type query struct{ expr, legend string }

// chart is a panel before layout: a time series, or a stat when stat is set.
type chart struct {
	title, desc, unit string
	queries           []query
	stat              bool
	// warnAt, when set, colours a stat red from that value on.
	warnAt *float64
	// okAt, when set, colours a stat red below that value and green from
	// it on: for what is bad when low, such as an error budget left.
	okAt *float64
}

// section is a titled row of charts.
type section struct {
	title  string
	charts []chart
}

// builder lays sections out on Grafana's 24-column grid.
type builder struct {
	panels []panel
	y      int
}

func (b *builder) add(s section) {
	collapsed := false
	b.panels = append(b.panels, panel{
		ID: len(b.panels) + 1, Type: "row", Title: s.title,
		GridPos: gridPos{H: 1, W: 24, Y: b.y}, Collapsed: &collapsed,
	})
	b.y++
	x, rowH := 0, 0
	for _, c := range s.charts {
		w, h := 8, 8
		if c.stat {
			w, h = 4, 4
		}
		if x+w > 24 {
			x, b.y = 0, b.y+rowH
			rowH = 0
		}
		b.panels = append(b.panels, c.panel(len(b.panels)+1, gridPos{H: h, W: w, X: x, Y: b.y}))
		x += w
		rowH = max(rowH, h)
	}
	b.y += rowH
}

func (c chart) panel(id int, pos gridPos) panel {
	p := panel{ID: id, Title: c.title, Description: c.desc, GridPos: pos, Datasource: datasource}
	for i, q := range c.queries {
		p.Targets = append(p.Targets, target{RefID: string(rune('A' + i)), Expr: q.expr, LegendFormat: q.legend,
			Exemplar: strings.HasPrefix(q.expr, "histogram_quantile(")})
	}
	zero := 0.0
	p.FieldConfig = &fieldConfig{Defaults: fieldDefaults{Unit: c.unit}, Overrides: []any{}}
	if c.stat {
		p.Type = "stat"
		p.Options = map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "background", "graphMode": "none", "textMode": "value_and_name",
		}
		steps := []step{{Color: "green", Value: nil}}
		if c.warnAt != nil {
			steps = append(steps, step{Color: "red", Value: c.warnAt})
		}
		if c.okAt != nil {
			steps = []step{{Color: "red", Value: nil}, {Color: "green", Value: c.okAt}}
		}
		p.FieldConfig.Defaults.Thresholds = &thresholds{Mode: "absolute", Steps: steps}
		return p
	}
	p.Type = "timeseries"
	p.FieldConfig.Defaults.Min = &zero
	p.FieldConfig.Defaults.Custom = map[string]any{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
	p.Options = map[string]any{
		"legend":  map[string]any{"displayMode": "table", "placement": "bottom", "calcs": []string{"lastNotNull", "max"}},
		"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
	}
	return p
}

func ptr(v float64) *float64 { return &v }

// svc is one service as the dashboards see it.
type svc struct {
	name, desc string
	db         bool      // has a PostgreSQL pool
	worker     bool      // runs a pkg/worker loop (label worker=<name>)
	singleton  bool      // runs its loop (or its sends) on the elected leader only
	consumer   string    // the stream it reads with bus.Consumer, if any
	telegram   bool      // calls the Bot API with telegram.Client
	dlq        bool      // exports vpnbot_dlq_messages
	panels     bool      // calls the VPN panels (pkg/vpn/vpnmetrics)
	own        []section // its own metrics
}

// sel is the series selector of service s on the instances picked.
func sel(s string) string { return fmt.Sprintf(`job="%s", instance=~"$instance"`, s) }

func rate(metric, s, extra string) string {
	return fmt.Sprintf(`rate(%s{%s%s}[$__rate_interval])`, metric, sel(s), extra)
}

func quantiles(metric, s, extra, by string) []query {
	var qs []query
	for _, q := range []string{"0.5", "0.95", "0.99"} {
		legend := "p" + strings.TrimPrefix(q, "0.")
		if by != "" {
			legend = "{{" + by + "}} " + legend
		}
		qs = append(qs, query{
			fmt.Sprintf(`histogram_quantile(%s, sum by (le%s) (rate(%s_bucket{%s%s}[$__rate_interval])))`, q, prefixComma(by), metric, sel(s), extra),
			legend,
		})
	}
	return qs
}

func prefixComma(by string) string {
	if by == "" {
		return ""
	}
	return ", " + by
}

func healthSection(s svc) section {
	return section{"Health", []chart{
		{title: "Targets up", desc: "Instances Prometheus scrapes successfully (0: the service is down or unreachable).",
			queries: []query{{fmt.Sprintf(`sum(up{%s})`, sel(s.name)), "up"}}, stat: true},
		{title: "Not ready", desc: "Instances whose /readyz fails (a dependency such as PostgreSQL or NATS does not answer).",
			queries: []query{{fmt.Sprintf(`count(vpnbot_ready{%s} == 0) or vector(0)`, sel(s.name)), "not ready"}}, stat: true, warnAt: ptr(1)},
		{title: "Not live", desc: "Instances whose /livez fails: the loop stopped making progress; the orchestrator will restart them.",
			queries: []query{{fmt.Sprintf(`count(vpnbot_live{%s} == 0) or vector(0)`, sel(s.name)), "not live"}}, stat: true, warnAt: ptr(1)},
		{title: "Restarts (1h)", desc: "Process starts in the last hour.",
			queries: []query{{fmt.Sprintf(`sum(changes(process_start_time_seconds{%s}[1h]))`, sel(s.name)), "restarts"}}, stat: true, warnAt: ptr(1)},
		{title: "Ready and live by instance", desc: "1 = passing. Logs: event=LIVENESS_CHECK_FAILED names the failing check.",
			queries: []query{
				{fmt.Sprintf(`vpnbot_ready{%s}`, sel(s.name)), "ready {{instance}}"},
				{fmt.Sprintf(`vpnbot_live{%s}`, sel(s.name)), "live {{instance}}"},
			}},
	}}
}

func poolSection(s svc) section {
	return section{"PostgreSQL pool (DB_POOL_MAX_SIZE)", []chart{
		{title: "Connections acquired / idle / max", unit: "short", desc: "acquired near max means requests queue for a connection.",
			queries: []query{
				{fmt.Sprintf(`vpnbot_db_pool_acquired_conns{%s}`, sel(s.name)), "acquired {{instance}}"},
				{fmt.Sprintf(`vpnbot_db_pool_idle_conns{%s}`, sel(s.name)), "idle {{instance}}"},
				{fmt.Sprintf(`vpnbot_db_pool_max_conns{%s}`, sel(s.name)), "max {{instance}}"},
			}},
		{title: "Acquires that waited", unit: "ops", desc: "Acquires that found no idle connection: pool saturation.",
			queries: []query{{"sum by (instance) (" + rate("vpnbot_db_pool_empty_acquire_total", s.name, "") + ")", "{{instance}}"}}},
		{title: "Mean acquire time", unit: "s",
			queries: []query{{fmt.Sprintf(`sum by (instance) (%s) / sum by (instance) (%s)`,
				rate("vpnbot_db_pool_acquire_wait_seconds_total", s.name, ""), rate("vpnbot_db_pool_acquire_total", s.name, "")), "{{instance}}"}}},
		{title: "Role's connections vs its CONNECTION LIMIT", unit: "short",
			desc: "The database's count (pg_stat_activity) of the service's role's sessions, all replicas and the election together, and the limit migrate gave the role from deploy/budget.yaml (-1: none, as for a superuser).",
			queries: []query{
				{fmt.Sprintf(`max by (role) (vpnbot_db_role_connections{job="%s"})`, s.name), "{{role}}"},
				{fmt.Sprintf(`max by (role) (vpnbot_db_role_connection_limit{job="%s"})`, s.name), "{{role}} limit"},
			}},
		{title: "Connections refused at the limit", unit: "ops",
			desc:    "New connections the database refused at the role's CONNECTION LIMIT (DB_CONNECTION_LIMIT in the logs): the service wants more than its share of the budget.",
			queries: []query{{"sum by (instance) (" + rate("vpnbot_db_connection_limit_refusals_total", s.name, "") + ")", "{{instance}}"}}},
	}}
}

func workerSection(s svc) section {
	w := fmt.Sprintf(`, worker="%s"`, s.name)
	charts := []chart{
		{title: "Last success, in intervals", desc: "Age of the last successful iteration divided by WORKER_INTERVAL; the WorkerNoSuccess alert fires above 3.",
			queries: []query{{fmt.Sprintf(`(time() - max(vpnbot_worker_last_success_timestamp_seconds{%s%s})) / max(vpnbot_worker_interval_seconds{%s%s})`, sel(s.name), w, sel(s.name), w), "intervals"}},
			stat:    true, warnAt: ptr(3)},
		{title: "Abandoned iterations", desc: "Iterations given up at WORKER_ITERATION_TIMEOUT that still have not returned (a hung call).",
			queries: []query{{fmt.Sprintf(`sum(vpnbot_worker_abandoned_iterations{%s%s})`, sel(s.name), w), "abandoned"}}, stat: true, warnAt: ptr(1)},
		{title: "Iterations by outcome", unit: "ops", desc: "Logs: event=ITERATION_END outcome=…, event=WORKER_TIMEOUT.",
			queries: []query{{"sum by (outcome) (" + rate("vpnbot_worker_iterations_total", s.name, w) + ")", "{{outcome}}"}}},
		{title: "Iteration duration", unit: "s", queries: quantiles("vpnbot_worker_iteration_duration_seconds", s.name, w, "")},
		// Selected by worker alone: the items are the worker's own names
		// and have series only once an iteration reported them, so a
		// worker with nothing to do yet has none.
		{title: "Items by kind", unit: "ops", desc: "What iterations did (sent, created, revoked, …), from ITERATION_END's items.",
			queries: []query{{fmt.Sprintf(`sum by (item) (rate(vpnbot_worker_items_total{worker="%s", instance=~"$instance"}[$__rate_interval]))`, s.name), "{{item}}"}}},
	}
	if s.singleton {
		charts = append(charts, chart{title: "Leader", desc: "1 on the replica running the loop (WORKER_SINGLETON); exactly one should.",
			queries: []query{{fmt.Sprintf(`vpnbot_worker_leader{%s%s}`, sel(s.name), w), "{{instance}}"}}})
	}
	return section{"Worker loop", charts}
}

func consumerSection(s svc) section {
	st := fmt.Sprintf(`, stream="%s"`, s.consumer)
	return section{"Consuming " + s.consumer, []chart{
		{title: "Consumer lag (pending)", unit: "short", desc: "Messages stored and not yet delivered, max over replicas. Growing: the service does not keep up.",
			queries: []query{{fmt.Sprintf(`max by (consumer) (vpnbot_consumer_pending{%s%s})`, sel(s.name), st), "{{consumer}}"}}},
		{title: "Delivered, not acknowledged", unit: "short", desc: "Being handled or held, or failing and waiting for redelivery.",
			queries: []query{{fmt.Sprintf(`max by (consumer) (vpnbot_consumer_ack_pending{%s%s})`, sel(s.name), st), "{{consumer}}"}}},
		{title: "Deliveries by outcome", unit: "ops", desc: "timeout: WEBHOOK_HANDLER_TIMEOUT; dlq: MESSAGE_DEAD_LETTERED (a panic too: HANDLER_PANIC).",
			queries: []query{{"sum by (consumer, outcome) (" + rate("vpnbot_consumer_messages_total", s.name, st) + ")", "{{consumer}} {{outcome}}"}}},
		{title: "Time to settle", unit: "s", desc: "From a delivery to its ack, retry or dead letter.",
			queries: quantiles("vpnbot_consumer_handler_duration_seconds", s.name, st, "consumer")},
		{title: "Redeliveries", unit: "ops",
			queries: []query{{"sum by (consumer) (" + rate("vpnbot_consumer_redeliveries_total", s.name, st) + ")", "{{consumer}}"}}},
		{title: "Gate closed / abandoned handlers", desc: "Gate closed: a dependency (PostgreSQL) is down and nothing is fetched. Abandoned: handlers past their deadline still running.",
			queries: []query{
				{fmt.Sprintf(`max(vpnbot_consumer_gate_closed{%s%s})`, sel(s.name), st), "gate closed"},
				{fmt.Sprintf(`sum(vpnbot_consumer_abandoned_handlers{%s%s})`, sel(s.name), st), "abandoned"},
			}},
	}}
}

func telegramSection(s svc) section {
	return section{"Telegram Bot API", []chart{
		{title: "Requests by method and outcome", unit: "ops", desc: "outcome: ok, Telegram's error code (429: flood limit, retried after retry_after; 403: the user blocked the bot), transport_error, bad_answer.",
			queries: []query{{"sum by (method, outcome) (" + rate("vpnbot_telegram_requests_total", s.name, "") + ")", "{{method}} {{outcome}}"}}},
		{title: "Latency by method", unit: "s", queries: quantiles("vpnbot_telegram_request_duration_seconds", s.name, "", "method")},
	}}
}

func dlqSection(s svc) section {
	return section{"Dead letters", []chart{
		{title: "DLQ messages by origin", unit: "short", desc: "Inspect with `dlq list -stream <origin>`, replay with `dlq replay SEQ`.",
			queries: []query{{fmt.Sprintf(`max by (stream) (vpnbot_dlq_messages{%s})`, sel(s.name)), "{{stream}}"}}},
	}}
}

// panelSection is what the service sees of each VPN panel it calls.
func panelSection(s svc) section {
	return section{"VPN panels", []chart{
		{title: "Panel up", desc: "1 while the panel answers this service, 0 since a call failed on the panel's side (down, 5xx, too slow, refusing us); PanelDown after 5 min.",
			queries: []query{{fmt.Sprintf(`min by (panel) (vpnbot_panel_up{%s})`, sel(s.name)), "{{panel}}"}}},
		{title: "Panel calls by outcome", unit: "ops", desc: "outcome: ok, unavailable, unauthorized, untrusted, not_found, canceled, error.",
			queries: []query{{"sum by (panel, outcome) (" + rate("vpnbot_panel_request_duration_seconds_count", s.name, "") + ")", "{{panel}} {{outcome}}"}}},
		{title: "Panel call latency", unit: "s", queries: quantiles("vpnbot_panel_request_duration_seconds", s.name, "", "panel")},
	}}
}

func processSection(s svc) section {
	return section{"Process", []chart{
		{title: "CPU", unit: "percentunit", queries: []query{{rate("process_cpu_seconds_total", s.name, ""), "{{instance}}"}}},
		{title: "Resident memory", unit: "bytes", queries: []query{{fmt.Sprintf(`process_resident_memory_bytes{%s}`, sel(s.name)), "{{instance}}"}}},
		{title: "Goroutines", unit: "short", desc: "A steady climb is a leak (abandoned handlers or iterations).",
			queries: []query{{fmt.Sprintf(`go_goroutines{%s}`, sel(s.name)), "{{instance}}"}}},
	}}
}

// services are the nine services' dashboards.
func services() []svc {
	return []svc{
		{name: "gateway", desc: "Telegram and Crypto Pay webhooks into JetStream. No database.", telegram: true, own: []section{
			{"Webhook", []chart{
				{title: "Requests by status", unit: "reqps", desc: "401: bad secret; 400/413: bad body; 503: NATS unavailable (Telegram retries).",
					queries: []query{{"sum by (status) (" + rate("vpnbot_gateway_requests_total", "gateway", "") + ")", "{{status}}"}}},
				{title: "5xx ratio", unit: "percentunit",
					queries: []query{{fmt.Sprintf(`sum(%s) / sum(%s)`, rate("vpnbot_gateway_requests_total", "gateway", `, status=~"5.."`), rate("vpnbot_gateway_requests_total", "gateway", "")), "5xx"}}},
				{title: "Request latency", unit: "s", queries: quantiles("vpnbot_gateway_request_duration_seconds", "gateway", "", "")},
				{title: "Publish latency (JetStream ack)", unit: "s", queries: quantiles("vpnbot_gateway_publish_duration_seconds", "gateway", "", "")},
				{title: "Updates stored, duplicates", unit: "ops", desc: "Duplicates: Telegram re-sent an update the stream already had.",
					queries: []query{
						{"sum by (source) (" + rate("vpnbot_gateway_published_total", "gateway", "") + ")", "{{source}}"},
						{"sum(" + rate("vpnbot_gateway_duplicates_total", "gateway", "") + ")", "duplicates"},
					}},
				{title: "Since the last request", unit: "s", desc: "Quiet for long at a busy hour: Telegram no longer reaches us (webhook, DNS, TLS, ingress).",
					queries: []query{{fmt.Sprintf(`time() - max(vpnbot_gateway_last_request_timestamp_seconds{%s})`, sel("gateway")), "age"}}, stat: true},
				{title: "Crypto Pay webhooks by status", unit: "reqps",
					queries: []query{{"sum by (status) (" + rate("vpnbot_gateway_cryptopay_requests_total", "gateway", "") + ")", "{{status}}"}}},
			}},
		}},
		{name: "bot-handler", desc: "Handles Telegram updates from TG_UPDATES under HANDLER_TIMEOUT.", db: true,
			consumer: "TG_UPDATES", telegram: true, dlq: true, own: []section{
				{"Updates", []chart{
					{title: "Updates by outcome", unit: "ops", desc: "retry: a transient failure (NakWithDelay); rejected: dead-lettered at once.",
						queries: []query{{"sum by (outcome) (" + rate("vpnbot_bot_updates_total", "bot-handler", "") + ")", "{{outcome}}"}}},
					{title: "Update latency", unit: "s", queries: quantiles("vpnbot_bot_update_duration_seconds", "bot-handler", "", "")},
					{title: "Crypto Pay API calls by outcome", unit: "ops", desc: "createInvoice when a user orders a plan.",
						queries: []query{{"sum by (method, outcome) (" + rate("vpnbot_cryptopay_requests_total", "bot-handler", "") + ")", "{{method}} {{outcome}}"}}},
				}},
			}},
		{name: "sender", desc: "The one path for notifications: OUTBOX to Telegram within the rate limits, on the elected leader.", db: true,
			singleton: true, consumer: "OUTBOX", telegram: true, dlq: true, own: []section{
				{"Sending", []chart{
					{title: "Sends by priority and outcome", unit: "ops",
						queries: []query{{"sum by (priority, outcome) (" + rate("vpnbot_sender_sends_total", "sender", "") + ")", "{{priority}} {{outcome}}"}}},
					{title: "Telegram 429s by scope", unit: "ops", desc: "Logs: event=FLOOD_WAIT. global: every send waits.",
						queries: []query{{"sum by (scope) (" + rate("vpnbot_sender_flood_waits_total", "sender", "") + ")", "{{scope}}"}}},
					{title: "Held in the scheduler", unit: "short",
						queries: []query{{fmt.Sprintf(`sum(vpnbot_sender_queued{%s})`, sel("sender")), "queued"}}},
					{title: "Command age when sent", unit: "s", desc: "From the command's creation to Telegram's acceptance.",
						queries: quantiles("vpnbot_sender_queue_age_seconds", "sender", "", "")},
					{title: "Rate limiter wait", unit: "s", queries: quantiles("vpnbot_sender_wait_seconds", "sender", "", "")},
					{title: "Leader", desc: "1 on the replica that sends; exactly one should.",
						queries: []query{{fmt.Sprintf(`vpnbot_leader{%s}`, sel("sender")), "{{instance}}"}}},
				}},
			}},
		{name: "activation", desc: "Creates VPN access on the panels for paid and trial periods and delivers the key.", db: true, worker: true, consumer: "EVENTS", panels: true, own: []section{
			{"VPN panel", []chart{
				{title: "Panel errors", unit: "ops", desc: "Unreachable, 5xx, timeout or refused; each activation is retried later.",
					queries: []query{{"sum by (panel) (" + rate("vpnbot_activation_panel_errors_total", "activation", "") + ")", "{{panel}}"}}},
			}},
		}},
		{name: "payment-watcher", desc: "Applies Crypto Pay payments (webhook events, and polling as the leader) exactly once.", db: true,
			worker: true, singleton: true, consumer: "EVENTS", own: []section{
				{"Payments", []chart{
					{title: "Paid at Crypto Pay, not applied", desc: "From the last poll; retried every poll. Users who paid and got nothing yet.",
						queries: []query{{fmt.Sprintf(`max(vpnbot_payment_watcher_paid_unapplied{%s})`, sel("payment-watcher")), "unapplied"}}, stat: true, warnAt: ptr(1)},
					{title: "Payments by source and outcome", unit: "ops", desc: "Logs: event=PAYMENT_APPLIED.",
						queries: []query{{"sum by (source, outcome) (" + rate("vpnbot_payment_watcher_payments_total", "payment-watcher", "") + ")", "{{source}} {{outcome}}"}}},
					{title: "Invoices expired by reason", unit: "ops",
						queries: []query{{"sum by (reason) (" + rate("vpnbot_payment_watcher_invoices_expired_total", "payment-watcher", "") + ")", "{{reason}}"}}},
					{title: "Crypto Pay API calls by outcome", unit: "ops",
						queries: []query{{"sum by (method, outcome) (" + rate("vpnbot_cryptopay_requests_total", "payment-watcher", "") + ")", "{{method}} {{outcome}}"}}},
					{title: "Crypto Pay API latency", unit: "s", queries: quantiles("vpnbot_cryptopay_request_duration_seconds", "payment-watcher", "", "method")},
				}},
			}},
		{name: "reminders", desc: "Reminds users before their access expires, once per stage per expiry, and renews from the balance those who asked.", db: true, worker: true, own: []section{
			{"Reminders", []chart{
				{title: "Reminders sent by stage", unit: "ops", desc: "Handed to the sender (REMINDER_SENT); at most once per stage per expiry.",
					queries: []query{{"sum by (stage) (" + rate("vpnbot_reminders_sent_total", "reminders", "") + ")", "{{stage}}"}}},
				{title: "Auto-renewals by outcome", unit: "ops", desc: "Renewed from the balance (AUTO_RENEWED), once per expiry; short of balance (AUTO_RENEW_SHORT), told once per expiry and tried again each pass.",
					queries: []query{{"sum by (outcome) (" + rate("vpnbot_reminders_renewals_total", "reminders", "") + ")", "{{outcome}}"}}},
			}},
		}},
		{name: "trial-notifier", desc: "The trial funnel: started, ending, ended, never-started nudges.", db: true, worker: true},
		{name: "expiry-cleanup", desc: "Revokes VPN access after expiry + grace and reconciles with the panels.", db: true, worker: true, panels: true, own: []section{
			{"Revocation", []chart{
				{title: "Accesses past expiry + grace", desc: "Live accesses of active periods past expiry + grace, counted in the database after each iteration's revocations.",
					queries: []query{{fmt.Sprintf(`max(vpnbot_expiry_unrevoked_overdue{%s})`, sel("expiry-cleanup")), "overdue"}}, stat: true, warnAt: ptr(1)},
				{title: "Oldest overdue access", unit: "s", desc: "How long the oldest of them has outlived expiry + grace; above 30 min: AccessesNotRevoked.",
					queries: []query{{fmt.Sprintf(`max(vpnbot_expiry_unrevoked_overdue_seconds{%s})`, sel("expiry-cleanup")), "overdue"}}, stat: true, warnAt: ptr(1800)},
				{title: "Unbacked panel accesses", desc: "Accesses on the panel that no active subscription backs, after the last reconciliation.",
					queries: []query{{fmt.Sprintf(`max(vpnbot_expiry_orphans_unbacked{%s})`, sel("expiry-cleanup")), "unbacked"}}, stat: true, warnAt: ptr(1)},
				{title: "Panel errors", unit: "ops",
					queries: []query{{"sum by (panel) (" + rate("vpnbot_expiry_panel_errors_total", "expiry-cleanup", "") + ")", "{{panel}}"}}},
				{title: "Drift repaired per hour", unit: "short", desc: "Accounts reconciliation found changed on the panel behind the bot's back and repaired (PANEL_DRIFT_REPAIRED), by kind; PanelDriftFrequent: more than 5 in 30 minutes.",
					queries: []query{{fmt.Sprintf(`sum by (panel, drift) (increase(vpnbot_panel_drift_repaired_total{%s}[1h]))`, sel("expiry-cleanup")), "{{panel}} {{drift}}"}}},
				{title: "Rows pruned by table", unit: "ops", desc: "Rows past their retention deleted (event=PRUNED).",
					queries: []query{{"sum by (table) (" + rate("vpnbot_pruned_rows_total", "expiry-cleanup", "") + ")", "{{table}}"}}},
			}},
		}},
		{name: "keyserver", desc: "Answers Outline's dynamic keys (ssconf://) from the database. No NATS.", db: true, own: []section{
			{"Dynamic keys", []chart{
				{title: "Requests by outcome", unit: "reqps", desc: "served: a live user's key; unknown: 404 (no such link, a replaced link, or no live period); error: 500 (KEY_SERVE_FAILED, the database failed).",
					queries: []query{{"sum by (outcome) (" + rate("vpnbot_keyserver_requests_total", "keyserver", "") + ")", "{{outcome}}"}}},
			}},
		}},
		{name: "webapp", desc: "The user's cabinet (Telegram Mini App): its page and API, read from the database; orders through the shop. No NATS.", db: true, own: []section{
			{"Cabinet", []chart{
				{title: "Requests by route and status", unit: "reqps", desc: "401: no or a bad session (or Telegram's signature refused); 403: CSRF, banned, or a user who never started the bot; 429: rate-limited; 503: Crypto Pay down (CRYPTOPAY_INVOICE_FAILED).",
					queries: []query{{"sum by (route, code) (" + rate("vpnbot_webapp_requests_total", "webapp", "") + ")", "{{route}} {{code}}"}}},
				{title: "5xx ratio", unit: "percentunit", desc: "Above 5% for 10 minutes: VpnbotWebapp5xx.",
					queries: []query{{fmt.Sprintf(`sum(%s) / sum(%s)`, rate("vpnbot_webapp_requests_total", "webapp", `, code=~"5.."`), rate("vpnbot_webapp_requests_total", "webapp", "")), "5xx"}}},
				{title: "Latency by route", unit: "s", queries: quantiles("vpnbot_webapp_request_duration_seconds", "webapp", "", "route")},
				{title: "Rate-limited", unit: "reqps", desc: "Requests answered 429, by route: one address or user over RATE_PER_IP or RATE_PER_USER.",
					queries: []query{{"sum by (route) (" + rate("vpnbot_webapp_requests_total", "webapp", `, code="429"`) + ")", "{{route}}"}}},
			}},
		}},
	}
}

func serviceDashboard(s svc) dashboard {
	b := &builder{}
	b.add(healthSection(s))
	if s.worker {
		b.add(workerSection(s))
	}
	if s.consumer != "" {
		b.add(consumerSection(s))
	}
	if s.telegram {
		b.add(telegramSection(s))
	}
	if s.dlq {
		b.add(dlqSection(s))
	}
	if s.panels {
		b.add(panelSection(s))
	}
	for _, o := range s.own {
		b.add(o)
	}
	if s.db {
		b.add(poolSection(s))
	}
	b.add(processSection(s))
	d := newDashboard("vpnbot-"+s.name, "vpnbot / "+s.name, s.desc+" Alerts and runbooks: deploy/prometheus/rules/vpnbot.yml, docs/runbooks/.", b.panels)
	d.Templating.List = []variable{{
		Name: "instance", Label: "instance", Type: "query", Datasource: datasource,
		Query:      fmt.Sprintf(`label_values(vpnbot_live{job="%s"}, instance)`, s.name),
		Definition: fmt.Sprintf(`label_values(vpnbot_live{job="%s"}, instance)`, s.name),
		Refresh:    2, IncludeAll: true, Multi: true, AllValue: ".*",
		Current: map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
	}}
	return d
}

func overview() dashboard {
	jobs := `job=~"gateway|bot-handler|sender|activation|payment-watcher|reminders|trial-notifier|expiry-cleanup|keyserver|webapp"`
	b := &builder{}
	b.add(section{"Services", []chart{
		{title: "Instances up by service", desc: "0 for a service: ServiceDown.",
			queries: []query{{fmt.Sprintf(`sum by (job) (up{%s})`, jobs), "{{job}}"}}},
		{title: "Not ready by service", desc: "Instances whose /readyz fails.",
			queries: []query{{`sum by (job) (1 - vpnbot_ready)`, "{{job}}"}}},
		{title: "Not live by service", desc: "Instances whose /livez fails; the orchestrator restarts them.",
			queries: []query{{`sum by (job) (1 - vpnbot_live)`, "{{job}}"}}},
	}})
	b.add(section{"Users' traffic", []chart{
		{title: "Webhook requests by status", unit: "reqps",
			queries: []query{{`sum by (status) (rate(vpnbot_gateway_requests_total[$__rate_interval]))`, "{{status}}"}}},
		{title: "Updates handled by outcome", unit: "ops",
			queries: []query{{`sum by (outcome) (rate(vpnbot_bot_updates_total[$__rate_interval]))`, "{{outcome}}"}}},
		{title: "Update latency p95", unit: "s",
			queries: []query{{`histogram_quantile(0.95, sum by (le) (rate(vpnbot_bot_update_duration_seconds_bucket[$__rate_interval])))`, "p95"}}},
		{title: "Consumer lag", unit: "short",
			queries: []query{{`max by (stream, consumer) (vpnbot_consumer_pending)`, "{{stream}} {{consumer}}"}}},
		{title: "DLQ messages by origin", unit: "short",
			queries: []query{{`max by (stream) (vpnbot_dlq_messages)`, "{{stream}}"}}},
		{title: "Telegram 429s", unit: "ops",
			queries: []query{{`sum by (job) (rate(vpnbot_telegram_requests_total{outcome="429"}[$__rate_interval]))`, "{{job}}"}}},
	}})
	b.add(section{"Workers", []chart{
		{title: "Last success, in intervals", desc: "Above 3: WorkerNoSuccess.",
			queries: []query{{`(time() - max by (worker) (vpnbot_worker_last_success_timestamp_seconds)) / max by (worker) (vpnbot_worker_interval_seconds)`, "{{worker}}"}}},
		{title: "Failed and timed-out iterations", unit: "ops",
			queries: []query{{`sum by (worker, outcome) (rate(vpnbot_worker_iterations_total{outcome=~"error|timeout"}[$__rate_interval]))`, "{{worker}} {{outcome}}"}}},
		{title: "Money and access", desc: "Paid but not applied (payment-watcher); live accesses past expiry + grace (expiry-cleanup).",
			queries: []query{
				{`max(vpnbot_payment_watcher_paid_unapplied)`, "paid, not applied"},
				{`max(vpnbot_expiry_unrevoked_overdue)`, "accesses past expiry + grace"},
			}},
	}})
	b.add(section{"VPN panels", []chart{
		{title: "Panels up", desc: "Per panel, the worst view of the services that call it: 0 since a call failed on the panel's side. PanelDown after 5 min; new users go to the other panels of the location meanwhile.",
			queries: []query{{`min by (panel, location) (vpnbot_panel_up)`, "{{panel}} ({{location}})"}}},
		{title: "Panel call latency p95", unit: "s",
			queries: []query{{`histogram_quantile(0.95, sum by (le, panel) (rate(vpnbot_panel_request_duration_seconds_bucket[$__rate_interval])))`, "{{panel}}"}}},
		{title: "Panel calls failed", unit: "ops", desc: "Calls that did not end ok, by outcome (unavailable: down, 5xx or too slow).",
			queries: []query{{`sum by (panel, outcome) (rate(vpnbot_panel_request_duration_seconds_count{outcome!~"ok|not_found"}[$__rate_interval]))`, "{{panel}} {{outcome}}"}}},
		{title: "Panel errors by service", unit: "ops", desc: "Activations, revocations and listings a panel failed; each is retried.",
			queries: []query{
				{`sum by (panel) (rate(vpnbot_activation_panel_errors_total[$__rate_interval]))`, "{{panel}} activation"},
				{`sum by (panel) (rate(vpnbot_expiry_panel_errors_total[$__rate_interval]))`, "{{panel}} expiry-cleanup"},
			}},
		{title: "Drift repaired per hour", unit: "short", desc: "Accounts changed on a panel behind the bot's back and repaired by reconciliation (PANEL_DRIFT_REPAIRED). PanelDriftFrequent: more than 5 in 30 minutes.",
			queries: []query{{`sum by (panel, drift) (increase(vpnbot_panel_drift_repaired_total[1h]))`, "{{panel}} {{drift}}"}}},
		{title: "Unbacked accounts", unit: "short", desc: "Accounts on a panel that nothing backs, after the last reconciliation.",
			queries: []query{{`max by (panel) (vpnbot_expiry_orphans_unbacked)`, "{{panel}}"}}},
	}})
	b.add(section{"PostgreSQL connections", []chart{
		{title: "Acquired vs max by service", unit: "short",
			queries: []query{
				{`sum by (job) (vpnbot_db_pool_acquired_conns)`, "{{job}} acquired"},
				{`sum by (job) (vpnbot_db_pool_max_conns)`, "{{job}} max"},
			}},
		{title: "Acquires that waited by service", unit: "ops",
			queries: []query{{`sum by (job) (rate(vpnbot_db_pool_empty_acquire_total[$__rate_interval]))`, "{{job}}"}}},
		{title: "Connections open by service", unit: "short", desc: "Compare with the budget in deploy/budget.yaml.",
			queries: []query{{`sum by (job) (vpnbot_db_pool_total_conns)`, "{{job}}"}}},
		{title: "Connections by role vs CONNECTION LIMIT", unit: "short",
			desc: "Each service's role as the database counts it (pg_stat_activity: all replicas, pools and elections), beside the role's CONNECTION LIMIT from deploy/budget.yaml.",
			queries: []query{
				{`max by (role) (vpnbot_db_role_connections)`, "{{role}}"},
				{`max by (role) (vpnbot_db_role_connection_limit)`, "{{role}} limit"},
			}},
		{title: "Connections refused at the limit by service", unit: "ops",
			desc:    "New connections the database refused at a role's CONNECTION LIMIT (DB_CONNECTION_LIMIT in the service's logs).",
			queries: []query{{`sum by (job) (rate(vpnbot_db_connection_limit_refusals_total[$__rate_interval]))`, "{{job}}"}}},
	}})
	return newDashboard("vpnbot-overview", "vpnbot / overview",
		"Every service at a glance; the per-service dashboards (links above) go deeper. Alerts and runbooks: docs/runbooks/.", b.panels)
}

// slo is one SLO of docs/slo.md as the SLO dashboard shows it: its
// recording rules are deploy/prometheus/rules/slo.yml's
// slo:sli_error:ratio_rate<window>{slo="<key>"}, and bad and valid are its
// bad and valid events over a range, from the services' counters.
type slo struct {
	key, title, desc string
	budget           float64
	bad, valid       func(window string) string
	// extra are charts of the SLI's metric itself.
	extra []chart
}

func slos() []slo {
	updateLost := func(w string) string {
		return fmt.Sprintf(`sum(increase(vpnbot_consumer_messages_total{stream="TG_UPDATES", outcome=~"timeout|dlq"}[%s]))`, w)
	}
	return []slo{
		{key: "update_reply", title: "Update → reply: 99 % within 2 s", budget: 0.01,
			desc: "Updates answered within 2 s of the gateway storing them (vpnbot_bot_update_age_seconds), of those answered, given up or dead-lettered.",
			bad: func(w string) string {
				return fmt.Sprintf(`sum(increase(vpnbot_bot_update_age_seconds_count[%s])) - sum(increase(vpnbot_bot_update_age_seconds_bucket{le=~"2|2.0"}[%s])) + %s`, w, w, updateLost(w))
			},
			valid: func(w string) string {
				return fmt.Sprintf(`sum(increase(vpnbot_bot_update_age_seconds_count[%s])) + %s`, w, updateLost(w))
			},
			extra: []chart{{title: "Answer time (from the stream)", unit: "s", desc: "From the gateway storing an update to its answer; the bot-handler's own time is on its dashboard.",
				queries: []query{
					{`histogram_quantile(0.5, sum by (le) (rate(vpnbot_bot_update_age_seconds_bucket[$__rate_interval])))`, "p50"},
					{`histogram_quantile(0.99, sum by (le) (rate(vpnbot_bot_update_age_seconds_bucket[$__rate_interval])))`, "p99"},
				}}}},
		{key: "key_delivery", title: "Paid → key delivered: 99 % within 60 s", budget: 0.01,
			desc: "Periods (paid and trial) working on the panel, a new key handed to the sender, within 60 s of their grant (vpnbot_activation_delivery_seconds).",
			bad: func(w string) string {
				return fmt.Sprintf(`sum(increase(vpnbot_activation_delivery_seconds_count[%s])) - sum(increase(vpnbot_activation_delivery_seconds_bucket{le=~"60|60.0"}[%s]))`, w, w)
			},
			valid: func(w string) string {
				return fmt.Sprintf(`sum(increase(vpnbot_activation_delivery_seconds_count[%s]))`, w)
			},
			extra: []chart{{title: "Delivery time by kind", unit: "s", desc: "From the payment applied (paid) or the trial taken to the access working; paid alone is what the SLO is about.",
				queries: []query{
					{`histogram_quantile(0.5, sum by (le, kind) (rate(vpnbot_activation_delivery_seconds_bucket[$__rate_interval])))`, "{{kind}} p50"},
					{`histogram_quantile(0.99, sum by (le, kind) (rate(vpnbot_activation_delivery_seconds_bucket[$__rate_interval])))`, "{{kind}} p99"},
				}}}},
		{key: "webhook", title: "Webhook availability: 99.9 %", budget: 0.001,
			desc: "Telegram's webhook requests answered without a 5xx (vpnbot_gateway_requests_total).",
			bad: func(w string) string {
				return fmt.Sprintf(`(sum(increase(vpnbot_gateway_requests_total{status=~"5.."}[%s])) or vector(0))`, w)
			},
			valid: func(w string) string { return fmt.Sprintf(`sum(increase(vpnbot_gateway_requests_total[%s]))`, w) }},
		{key: "outbox", title: "Outbox delivery: 99.9 %", budget: 0.001,
			desc: "Messages the sender sent, of those sent or dead-lettered (vpnbot_sender_sends_total); blocked, duplicate and cancelled count neither way.",
			bad: func(w string) string {
				return fmt.Sprintf(`(sum(increase(vpnbot_sender_sends_total{outcome="dlq"}[%s])) or vector(0))`, w)
			},
			valid: func(w string) string {
				return fmt.Sprintf(`sum(increase(vpnbot_sender_sends_total{outcome=~"sent|dlq"}[%s]))`, w)
			}},
	}
}

// burn is the burn-rate query of s over window: its error ratio divided by
// its budget (1: the budget lasts exactly 30 days).
func (s slo) burn(window string) query {
	return query{fmt.Sprintf(`slo:sli_error:ratio_rate%s{slo="%s"} / %g`, window, s.key, s.budget), window}
}

func sloDashboard() dashboard {
	b := &builder{}
	for _, s := range slos() {
		bad30d := fmt.Sprintf(`(%s) / (%s)`, s.bad("30d"), s.valid("30d"))
		charts := []chart{
			{title: "Error budget left (30 d)", unit: "percentunit", desc: s.desc + " 100 %: untouched; 0: spent; below 0: overspent. Red below 25 %.",
				queries: []query{{fmt.Sprintf(`1 - %s / %g`, bad30d, s.budget), "left"}}, stat: true, okAt: ptr(0.25)},
			{title: "Bad (30 d)", unit: "percentunit", desc: fmt.Sprintf("Share of the events that were bad; the objective allows %g %%.", s.budget*100),
				queries: []query{{bad30d, "bad"}}, stat: true, warnAt: ptr(s.budget)},
			{title: "Burn rate, page windows", unit: "short", desc: "Pages at 14.4× over 1h and 5m, or 6× over 6h and 30m.",
				queries: []query{s.burn("5m"), s.burn("1h"), s.burn("30m"), s.burn("6h")}},
			{title: "Burn rate, ticket windows", unit: "short", desc: "Tickets at 3× over 1d and 2h, or 1× over 3d and 6h.",
				queries: []query{s.burn("2h"), s.burn("1d"), s.burn("6h"), s.burn("3d")}},
		}
		b.add(section{s.title, append(charts, s.extra...)})
	}
	return newDashboard("vpnbot-slo", "vpnbot / SLOs",
		"The SLOs of docs/slo.md: error budget left over 30 days and how fast it burns. Rules and alerts: deploy/prometheus/rules/slo.yml; runbooks: docs/runbooks/Vpnbot*BudgetBurn.md.", b.panels)
}

func newDashboard(uid, title, desc string, panels []panel) dashboard {
	return dashboard{
		UID: uid, Title: title, Description: desc, Tags: []string{"vpnbot"},
		Timezone: "utc", Editable: true, SchemaVersion: 39, Version: 1, Refresh: "30s",
		Time:       timeRange{From: "now-6h", To: "now"},
		Templating: templating{List: []variable{}},
		Links:      []link{{Title: "vpnbot", Type: "dashboards", Tags: []string{"vpnbot"}, AsDropdown: true, IncludeVars: false, KeepTime: true}},
		Panels:     panels,
	}
}

// generatedDashboards returns each dashboard file's name and content.
func generatedDashboards(t *testing.T) map[string][]byte {
	t.Helper()
	all := []dashboard{overview(), sloDashboard()}
	for _, s := range services() {
		all = append(all, serviceDashboard(s))
	}
	files := map[string][]byte{}
	for _, d := range all {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(d))
		files[strings.TrimPrefix(d.UID, "vpnbot-")+".json"] = buf.Bytes()
	}
	return files
}

func TestDashboardsAreCurrent(t *testing.T) {
	want := generatedDashboards(t)
	if *updateDashboards {
		require.NoError(t, os.MkdirAll(dashboardDir, 0o755))
		for name, content := range want {
			require.NoError(t, os.WriteFile(filepath.Join(dashboardDir, name), content, 0o644))
		}
	}
	have, err := filepath.Glob(filepath.Join(dashboardDir, "*.json"))
	require.NoError(t, err)
	require.Len(t, have, len(want), "dashboard files in %s", dashboardDir)
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(dashboardDir, name))
		require.NoError(t, err)
		require.Equal(t, string(content), string(got),
			"%s is not what the generator makes: run go test -run TestDashboardsAreCurrent -update-dashboards in e2e", name)
	}
}
