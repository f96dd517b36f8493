package localstack

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEachServiceGetsItsSettings pins the environment the table gives each
// process, with real outside systems configured so that no sandbox runs.
func TestEachServiceGetsItsSettings(t *testing.T) {
	cfg, err := Config{
		Dir:              t.TempDir(),
		DatabaseURL:      "postgres://postgres@127.0.0.1:5432/vpnbot",
		GatewayAddr:      "127.0.0.1:8081",
		KeyServerAddr:    "127.0.0.1:8090",
		WebAppAddr:       "127.0.0.1:8091",
		OpsPort:          19100,
		BotHandlers:      2,
		NATSNodes:        3,
		Token:            "1:T",
		WebhookSecret:    "s3cret",
		TelegramAPIURL:   "https://api.telegram.org",
		WebhookPublicURL: "https://bot.example",
		CryptoPayAPIURL:  "https://pay.crypt.bot",
		CryptoPayToken:   "9:C",
		PanelEnv:         []string{"VPN_PANEL=remnawave", "REMNAWAVE_URL=https://panel"},
		AdminIDs:         []int64{7, 42},
		SupportContact:   "@help",
		Env:              []string{"LOG_LEVEL=debug"},
	}.withDefaults()
	require.NoError(t, err)
	const natsURL = "nats://127.0.0.1:4233,nats://127.0.0.1:4234,nats://127.0.0.1:4235"
	s := &Stack{cfg: cfg, NATSURL: natsURL, processes: map[string][]*process{}}
	common := []string{
		"NATS_URL=" + natsURL,
		"STREAM_REPLICAS=3", // every node of the cluster, unless Config says otherwise
		"DATABASE_URL=postgres://postgres@127.0.0.1:5432/vpnbot",
		"TELEGRAM_BOT_TOKEN=1:T",
		"TELEGRAM_API_URL=https://api.telegram.org",
	}
	cryptoPay := []string{"CRYPTOPAY_TOKEN=9:C", "CRYPTOPAY_API_URL=https://pay.crypt.bot"}
	panel := cfg.PanelEnv
	// A real Bot API: Telegram's limits.
	pace := []string{"TELEGRAM_CHAT_RATE=1", "TELEGRAM_CHAT_BURST=2", "TELEGRAM_BOT_RATE=28", "TELEGRAM_BOT_BURST=20",
		"TELEGRAM_GROUP_PER_MINUTE=18", "TELEGRAM_GROUP_BURST=2"}
	for _, c := range []struct {
		name    string
		replica int
		own     []string
	}{
		{Gateway, 0, append([]string{"INSTANCE=gateway", "OPS_ADDR=127.0.0.1:19100", "HTTP_ADDR=127.0.0.1:8081",
			"TELEGRAM_WEBHOOK_SECRET=s3cret", "GATEWAY_MODE=webhook", "WEBHOOK_PUBLIC_URL=https://bot.example"}, cryptoPay...)},
		{BotHandler, 0, slices.Concat([]string{"INSTANCE=bot-handler-0", "OPS_ADDR=127.0.0.1:19110",
			"ADMIN_IDS=7,42", "SUPPORT_CONTACT=@help"}, cryptoPay, pace)},
		{BotHandler, 1, slices.Concat([]string{"INSTANCE=bot-handler-1", "OPS_ADDR=127.0.0.1:19111",
			"ADMIN_IDS=7,42", "SUPPORT_CONTACT=@help"}, cryptoPay, pace)},
		{Sender, 0, append([]string{"INSTANCE=sender", "OPS_ADDR=127.0.0.1:19101"}, pace...)},
		{KeyServer, 0, []string{"INSTANCE=keyserver", "OPS_ADDR=127.0.0.1:19107", "HTTP_ADDR=127.0.0.1:8090"}},
		{WebApp, 0, append([]string{"INSTANCE=webapp", "OPS_ADDR=127.0.0.1:19108", "HTTP_ADDR=127.0.0.1:8091"}, cryptoPay...)},
		{Activation, 0, append([]string{"INSTANCE=activation", "OPS_ADDR=127.0.0.1:19102", "WORKER_INTERVAL=5s"}, panel...)},
		{PaymentWatcher, 0, append([]string{"INSTANCE=payment-watcher", "OPS_ADDR=127.0.0.1:19103", "WORKER_INTERVAL=10s"}, cryptoPay...)},
		{Reminders, 0, []string{"INSTANCE=reminders", "OPS_ADDR=127.0.0.1:19104", "WORKER_INTERVAL=30s"}},
		{TrialNotifier, 0, []string{"INSTANCE=trial-notifier", "OPS_ADDR=127.0.0.1:19105", "WORKER_INTERVAL=30s"}},
		{ExpiryCleanup, 0, append([]string{"INSTANCE=expiry-cleanup", "OPS_ADDR=127.0.0.1:19106", "WORKER_INTERVAL=30s"}, panel...)},
	} {
		p, err := s.add(specOf(c.name), c.replica)
		require.NoError(t, err)
		require.ElementsMatch(t, append(append(common, c.own...), "LOG_LEVEL=debug"), p.env, p.label)
		require.Equal(t, "LOG_LEVEL=debug", p.env[len(p.env)-1], "%s: Config.Env comes last, so it wins", p.label)
	}
	require.Equal(t, append(append([]string{"INSTANCE=migrate"}, common...), "DB_ROLES=false", "LOG_LEVEL=debug"),
		s.environ(specOf(Migrate), Migrate, ""), "the job serves no ops endpoint")

	var labels []string
	for _, id := range s.Services() {
		labels = append(labels, id.Label)
	}
	require.Equal(t, []string{"gateway", "bot-handler-0", "bot-handler-1", "sender", "keyserver", "webapp", "activation",
		"payment-watcher", "reminders", "trial-notifier", "expiry-cleanup"}, labels, "in start order")
}

// The sending services' shared budget follows the sandbox's limits: none
// where the sandbox has none, so tests that drive a chat fast are not
// slowed, and the sandbox's rates, with bursts under its own, where it has
// them.
func TestTheBudgetFollowsTheSandboxsLimits(t *testing.T) {
	for _, c := range []struct {
		chatRate, globalRate float64
		want                 []string
	}{
		{0, 0, []string{"TELEGRAM_CHAT_RATE=1", "TELEGRAM_CHAT_BURST=2", "TELEGRAM_BOT_RATE=28", "TELEGRAM_BOT_BURST=20",
			"TELEGRAM_GROUP_PER_MINUTE=18", "TELEGRAM_GROUP_BURST=2"}},
		{5, 6, []string{"TELEGRAM_CHAT_RATE=5", "TELEGRAM_CHAT_BURST=2", "TELEGRAM_BOT_RATE=6", "TELEGRAM_BOT_BURST=4",
			"TELEGRAM_GROUP_PER_MINUTE=18", "TELEGRAM_GROUP_BURST=2"}},
		{-1, -1, []string{"TELEGRAM_CHAT_RATE=10000", "TELEGRAM_CHAT_BURST=10000", "TELEGRAM_BOT_RATE=10000", "TELEGRAM_BOT_BURST=10000",
			"TELEGRAM_GROUP_PER_MINUTE=600000", "TELEGRAM_GROUP_BURST=10000"}},
	} {
		cfg, err := Config{Dir: t.TempDir(), DatabaseURL: "postgres://postgres@127.0.0.1:5432/vpnbot",
			ChatRate: c.chatRate, GlobalRate: c.globalRate}.withDefaults()
		require.NoError(t, err)
		s := &Stack{cfg: cfg, processes: map[string][]*process{}}
		for _, name := range []string{Sender, BotHandler} {
			p, err := s.add(specOf(name), 0)
			require.NoError(t, err)
			for _, kv := range c.want {
				require.Contains(t, p.env, kv, "%s with the sandbox at %g/s a chat, %g/s in all", name, c.chatRate, c.globalRate)
			}
		}
	}
}

// TestReplicasOfTheOtherServices runs two senders and two activation
// workers: each replica is labelled and told its instance, and the block of
// ops ports holds only the first of each.
func TestReplicasOfTheOtherServices(t *testing.T) {
	cfg, err := Config{
		Dir:         t.TempDir(),
		DatabaseURL: "postgres://postgres@127.0.0.1:5432/vpnbot",
		OpsPort:     19100,
		Workers:     true,
		Replicas:    map[string]int{Sender: 2, Activation: 2},
	}.withDefaults()
	require.NoError(t, err)
	s := &Stack{cfg: cfg, processes: map[string][]*process{}}
	for _, sp := range []*spec{specOf(Sender), specOf(Activation), specOf(Reminders)} {
		for r := range cfg.replicas(sp) {
			_, err := s.add(sp, r)
			require.NoError(t, err)
		}
	}
	var labels []string
	for _, id := range s.Services() {
		labels = append(labels, id.Label)
	}
	require.Equal(t, []string{"sender-0", "sender-1", "activation-0", "activation-1", "reminders"}, labels)
	require.Contains(t, s.lookup(Sender, 1).env, "INSTANCE=sender-1")
	require.Equal(t, "127.0.0.1:19101", s.lookup(Sender, 0).opsAddr)
	require.NotEqual(t, "127.0.0.1:19102", s.lookup(Sender, 1).opsAddr, "a second sender takes a free port, not activation's")
	require.Same(t, s.lookup(Reminders, 0), s.lookup(Reminders, 3), "a service that runs once is found whatever the replica")
	require.Nil(t, s.lookup(Sender, 2))

	for _, bad := range []map[string]int{{BotHandler: 2}, {Gateway: 2}, {Migrate: 2}, {"nope": 2}, {Sender: 0}} {
		_, err := Config{Dir: t.TempDir(), DatabaseURL: "postgres://x", Replicas: bad}.withDefaults()
		require.Error(t, err, "%v", bad)
	}
}

func TestOneNATSNodeKeepsOneCopyUnlessTold(t *testing.T) {
	cfg, err := Config{Dir: t.TempDir(), DatabaseURL: "postgres://postgres@127.0.0.1:5432/vpnbot"}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 1, cfg.NATSNodes, "make run and the tests run one NATS server")
	require.Equal(t, 1, cfg.StreamReplicas)

	cfg, err = Config{Dir: t.TempDir(), DatabaseURL: "postgres://postgres@127.0.0.1:5432/vpnbot", NATSNodes: 3, StreamReplicas: 2}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 2, cfg.StreamReplicas, "a caller may keep fewer copies than nodes")
}
