package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/procs"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

const (
	// readyWithin bounds a devstack's start: building nine services on a
	// busy two-core machine, migrating, and each service's start.
	readyWithin = 5 * time.Minute
	// stopWithin bounds a devstack's exit after SIGINT: the services' own
	// stop grace (15 s) with room to spare.
	stopWithin = 60 * time.Second
	// screenWithin bounds the wait for the bot's answer.
	screenWithin = 60 * time.Second
	// userPace is how long a test's user waits before acting again in the
	// bot's chat: a quick human's pace, faster than the sandbox Telegram's
	// per-chat limit (a message a second, in bursts of three) lets the bot
	// answer, so some screens come only on the bot-handler's retry.
	userPace = 300 * time.Millisecond
	// welcome is the first line of the welcome text, printed once ready.
	welcome = "vpnbot is running"
)

// binary is the devstack built by TestMain, as make run builds it.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if dir := os.Getenv(holdLockEnv); dir != "" {
		holdLock(dir)
	}
	dir, err := os.MkdirTemp("", "devstack-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack test:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	binary = filepath.Join(dir, "devstack")
	if err := procs.BuildPackage(ctx, ".", binary); err != nil {
		fmt.Fprintln(os.Stderr, "devstack test:", err)
		return 1
	}
	return m.Run()
}

// TestInterruptStopsEverythingAndStateSurvives is make run stopped with
// Ctrl-C: started on a clean state folder and a fresh database, a user takes
// the trial; SIGINT to the devstack's process group, as a terminal sends it,
// ends every process it started and frees every port they listened on, with
// exit status 0; started again on the same folder and database, the user and
// the subscription are there and the bot answers.
func TestInterruptStopsEverythingAndStateSurvives(t *testing.T) {
	db := pgdbtest.New(t)
	env := newEnv(t, t.TempDir(), db.DSN)

	d := startDevstack(t, env)
	const user = 4242
	d.sendText(t, user, "/start")
	menu := d.waitMessage(t, user, "the main menu", withButton("trial"))
	d.press(t, user, menu, "trial")
	var subID int64
	var expires time.Time
	require.Eventually(t, func() bool {
		err := db.Pool.QueryRow(t.Context(),
			`SELECT id, expires_at FROM subscriptions WHERE user_id = $1 AND kind = 'trial'`, user).Scan(&subID, &expires)
		return err == nil
	}, screenWithin, 100*time.Millisecond, "no trial in the database")
	d.waitMessage(t, user, "the trial's key", withText("ss://"))

	d.interrupt(t)

	d = startDevstack(t, env)
	var firstName string
	require.NoError(t, db.Pool.QueryRow(t.Context(), `SELECT first_name FROM users WHERE id = $1`, user).Scan(&firstName))
	var gotID int64
	var gotExpires time.Time
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		`SELECT id, expires_at FROM subscriptions WHERE user_id = $1 AND status = 'active'`, user).Scan(&gotID, &gotExpires))
	require.Equal(t, subID, gotID, "the trial is the same subscription after the restart")
	require.True(t, expires.Equal(gotExpires), "the trial's expiry moved: %s, then %s", expires, gotExpires)
	// The restarted system works on the old state: the bot shows the
	// subscription taken before.
	d.sendText(t, user, "/start")
	menu = d.waitMessage(t, user, "the main menu after the restart", withButton("sub"))
	d.press(t, user, menu, "sub")
	d.waitMessage(t, user, "the trial's expiry after the restart", withText(expires.UTC().Format("2 Jan 2006 15:04")))
	d.interrupt(t)
}

// TestPrivateClusterWhenNoServerAnswers is make run on a machine whose
// DATABASE_URL answers nothing: the devstack creates a cluster of its own
// under the state folder, runs on it, stops it on SIGINT, and finds the same
// data in it when started again.
func TestPrivateClusterWhenNoServerAnswers(t *testing.T) {
	dir := t.TempDir()
	env, private, pgPort := privateEnv(t, dir)

	d := startDevstack(t, env)
	require.Contains(t, d.out.String(), EventPrivatePostgres)
	const user = 4343
	d.sendText(t, user, "/start")
	d.waitMessage(t, user, "the main menu", withButton("trial"))
	require.Equal(t, 1, countUsers(t, private, user), "the user is not in the private cluster")
	pid := postmasterPID(t, dir)

	d.interrupt(t)
	require.NoFileExists(t, filepath.Join(dir, "postgres", "data", "postmaster.pid"), "the private cluster is still running")
	require.True(t, gone(pid), "the postmaster (pid %d) outlived the devstack", pid)
	requireFree(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(pgPort)))
	// Its database goes with the cluster's folder: nothing for make clean
	// to drop on a server.
	require.NoFileExists(t, filepath.Join(dir, createdDatabasesFile))

	d = startDevstack(t, env)
	require.Contains(t, d.out.String(), "private PostgreSQL cluster started")
	require.NotContains(t, d.out.String(), "private PostgreSQL cluster created", "the cluster was created again")
	require.Equal(t, 1, countUsers(t, private, user), "the user is gone after the restart")
	d.interrupt(t)
}

// TestSecondRunIsRefusedAndLeavesTheFirstAlone is make run typed again
// while one runs on the same state folder, on a private cluster as on a
// machine without PostgreSQL: the second says in one line which process
// runs there and where, and exits 1 without restarting the first's cluster
// or touching anything else of it; the first goes on answering.
func TestSecondRunIsRefusedAndLeavesTheFirstAlone(t *testing.T) {
	dir := t.TempDir()
	env, _, _ := privateEnv(t, dir)
	d := startDevstack(t, env)
	postmaster := postmasterPID(t, dir)

	ctx, cancel := context.WithTimeout(t.Context(), stopWithin)
	defer cancel()
	second := exec.CommandContext(ctx, binary)
	second.Env = env
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the second devstack: %s", out)
	require.Equal(t, 1, exit.ExitCode())
	require.Equal(t, fmt.Sprintf("devstack: another devstack runs on this state folder %s (pid %d, %s): stop it first (Ctrl-C in its terminal)\n",
		dir, d.cmd.Process.Pid, d.sandboxURL), string(out))

	require.Equal(t, postmaster, postmasterPID(t, dir), "the first devstack's cluster was restarted")
	require.NotContains(t, d.out.String(), "private PostgreSQL cluster stopped")
	const user = 4747
	d.sendText(t, user, "/start")
	d.waitMessage(t, user, "the main menu after the refusal", withButton("trial"))
	d.interrupt(t)
}

// TestRestartGoesOnWithTheSandboxes is make run stopped and started again in
// the middle of a subscription's life, after a Crypto Pay order: the chat
// is as it was (the same messages under the same ids, the key's QR code
// included), the sandbox Outline answers at the same API URL and
// certificate and still has the trial's key, which still connects, the pay link handed out before the restart opens, new messages
// go on from the last id, a Crypto Pay order right after the restart
// succeeds at once (no invoice at the sandbox without its order), and
// paying the old link pays the old order. Then make clean, which keeps the
// database make run did not create, and make run: the sandboxes start
// afresh, and an order still succeeds at once, its invoice id being none
// the database has seen.
func TestRestartGoesOnWithTheSandboxes(t *testing.T) {
	db := pgdbtest.New(t)
	env, cryptoPay := demoEnv(t, db.DSN)
	payLink := func(m sandboxtg.Message) bool { return strings.HasPrefix(m.ButtonURL(), "http://"+cryptoPay+"/pay/") }

	d := startDevstack(t, env)
	const user = 4848
	d.sendText(t, user, "/start")
	menu := d.waitMessage(t, user, "the main menu", withButton("trial"))
	d.press(t, user, menu, "trial")
	key := d.waitMessage(t, user, "the trial's key", withText("ss://"))
	require.NotEmpty(t, key.Photo, "the key comes with its QR code")
	link := accessURL.FindString(key.Plain)
	require.NotEmpty(t, link, "no ss:// key in %q", key.Plain)
	panel := d.outlinePanel(t)
	require.True(t, panel.hasKey(t, link), "the delivered key is not on the panel")
	require.True(t, panel.keyWorks(t, link), "the delivered key does not connect")
	time.Sleep(userPace)
	ordered := d.orderCryptoPay(t, user)
	require.True(t, payLink(ordered), "the order's message has no pay link: %+v", ordered.Buttons)
	oldLink := ordered.ButtonURL()
	before := d.chatView(t, user)
	ids := d.messageIDs(t, user)
	lastID := ids[len(ids)-1]
	d.interrupt(t)

	d = startDevstack(t, env)
	require.Equal(t, before, d.chatView(t, user), "the web chat changed across the restart")
	status, page := d.get(t, oldLink)
	require.Equal(t, http.StatusOK, status, "the pay link handed out before the restart")
	require.Contains(t, page, `id="pay"`)
	status, _ = d.get(t, fmt.Sprintf("%s/api/chats/%d/messages/%d/photo", d.sandboxURL, user, key.ID))
	require.Equal(t, http.StatusOK, status, "the key's QR code after the restart")
	require.Equal(t, panel.config, d.outlinePanel(t).config, "the Outline panel's API URL or certificate changed across the restart")
	require.True(t, panel.hasKey(t, link), "the key delivered before the restart is not on the panel")
	require.True(t, panel.keyWorks(t, link), "the key delivered before the restart does not connect")

	// The order is still on offer: a press shows its link again, in a
	// message whose id goes on from before.
	again := d.orderCryptoPay(t, user)
	require.Greater(t, again.ID, lastID, "message ids started again")
	require.Equal(t, oldLink, again.ButtonURL(), "the order on offer is shown again")

	// Paying the link handed out before the restart pays that order.
	resp, err := d.http.PostForm(oldLink, url.Values{})
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	d.waitMessage(t, user, "the payment's confirmation", withText("Payment received"))
	first := attachedIDs(t, db, user)
	require.Len(t, first, 1)
	var paid string
	require.NoError(t, db.Pool.QueryRow(t.Context(), `SELECT status FROM invoices
		WHERE provider = 'cryptopay' AND external_id = $1`, first[0]).Scan(&paid))
	require.Equal(t, "paid", paid, "paying the old link did not pay the old order")

	// The next order is a new one, with the first invoice the sandbox makes
	// after the restart: it must get an id the database has not seen.
	time.Sleep(userPace)
	fresh := d.orderCryptoPay(t, user)
	require.True(t, payLink(fresh))
	require.NotEqual(t, oldLink, fresh.ButtonURL())
	require.NotContains(t, d.out.String(), "already attached", "an order after the restart met a reused invoice id")
	attached := attachedIDs(t, db, user)
	require.Equal(t, attached, d.sandboxInvoiceIDs(t, cryptoPay), "every invoice at the sandbox belongs to an order, on the first try")
	require.Len(t, attached, 2)
	// Paid too, so that the order after make clean is a new one, not this
	// one shown again.
	resp, err = d.http.PostForm(fresh.ButtonURL(), url.Values{})
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Eventually(t, func() bool {
		err := db.Pool.QueryRow(t.Context(), `SELECT status FROM invoices
			WHERE provider = 'cryptopay' AND external_id = $1`, attached[1]).Scan(&paid)
		return err == nil && paid == "paid"
	}, time.Minute, 100*time.Millisecond, "the second order was not paid")
	d.interrupt(t)

	out, err := runDevstackClean(t, env)
	require.NoError(t, err, out)
	d = startDevstack(t, env)
	afresh := d.orderCryptoPay(t, user)
	require.True(t, payLink(afresh))
	require.NotContains(t, d.out.String(), "already attached", "an order after make clean met an invoice id the database has")
	made := d.sandboxInvoiceIDs(t, cryptoPay)
	require.Len(t, made, 1, "the sandbox made more than one invoice for the order")
	require.Equal(t, slices.Concat(attached, made), attachedIDs(t, db, user), "the order's invoice is not attached")
	d.interrupt(t)
}

// accessURL is an Outline key as the sandbox Outline makes it.
var accessURL = regexp.MustCompile(`ss://[A-Za-z0-9_-]+@[^\s/]+/\?outline=1`)

// outlineSandbox is the sandbox Outline of a devstack, as its welcome text
// prints its manager config.
type outlineSandbox struct {
	// config is the manager config: {"apiUrl": ..., "certSha256": ...}.
	config string
	// control is the panel's sandbox control API, outside the secret path.
	control string
	http    *http.Client
}

// outlinePanel reads the first sandbox Outline panel's manager config from
// the welcome text (the panel a devstack's first user is placed on) and
// returns a client that trusts the certificate it pins.
func (d *devstack) outlinePanel(t *testing.T) outlineSandbox {
	t.Helper()
	const intro = "as their installer prints them:\n  outline: "
	var line string
	require.Eventually(t, func() bool {
		_, rest, found := strings.Cut(d.out.String(), intro)
		line, _, _ = strings.Cut(rest, "\n")
		return found && strings.HasSuffix(line, "}")
	}, screenWithin, 50*time.Millisecond, "the welcome text has no Outline manager config")
	var mc struct {
		APIURL     string `json:"apiUrl"`
		CertSHA256 string `json:"certSha256"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &mc), line)
	pin, err := hex.DecodeString(mc.CertSHA256)
	require.NoError(t, err)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		// The certificate is self-signed: it is trusted by its pin alone,
		// as the Outline Manager and the services trust it.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no certificate")
			}
			if sum := sha256.Sum256(raw[0]); !bytes.Equal(sum[:], pin) {
				return errors.New("not the pinned certificate")
			}
			return nil
		},
	}}}
	t.Cleanup(client.CloseIdleConnections)
	return outlineSandbox{config: line, control: mc.APIURL[:strings.LastIndex(mc.APIURL, "/")] + "/sandbox", http: client}
}

// hasKey reports whether the panel lists a key of accessURL.
func (o outlineSandbox) hasKey(t *testing.T, accessURL string) bool {
	t.Helper()
	resp, err := o.http.Get(o.control + "/keys")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var keys []struct {
		AccessURL string `json:"accessUrl"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&keys))
	for _, k := range keys {
		if k.AccessURL == accessURL {
			return true
		}
	}
	return false
}

// keyWorks reports whether an Outline client given accessURL would connect.
func (o outlineSandbox) keyWorks(t *testing.T, accessURL string) bool {
	t.Helper()
	body, err := json.Marshal(map[string]string{"accessUrl": accessURL})
	require.NoError(t, err)
	resp, err := o.http.Post(o.control+"/connect", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var answer struct {
		Works bool `json:"works"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	return answer.Works
}

// sandboxInvoiceIDs are the ids of the sandbox Crypto Pay's invoices at
// addr, in ascending order.
func (d *devstack) sandboxInvoiceIDs(t *testing.T, addr string) []string {
	t.Helper()
	var invoices []struct {
		ID int64 `json:"invoice_id"`
	}
	status, list := d.get(t, "http://"+addr+"/sandbox/invoices")
	require.Equal(t, http.StatusOK, status, list)
	require.NoError(t, json.Unmarshal([]byte(list), &invoices))
	ids := make([]string, len(invoices))
	for i, inv := range invoices {
		ids[i] = strconv.FormatInt(inv.ID, 10)
	}
	return ids
}

// attachedIDs are the Crypto Pay invoice ids attached to the user's orders,
// in ascending order.
func attachedIDs(t *testing.T, db *pgdbtest.DB, user int64) []string {
	t.Helper()
	rows, err := db.Pool.Query(t.Context(), `SELECT external_id FROM invoices
		WHERE user_id = $1 AND provider = 'cryptopay' AND external_id IS NOT NULL ORDER BY external_id::bigint`, user)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return ids
}

// orderCryptoPay orders the demo plan through Crypto Pay as the user would:
// /start, then Plans, Demo and Crypto Pay on the new menu, which the bot
// edits in place; it returns that message once it shows the pay link.
func (d *devstack) orderCryptoPay(t *testing.T, user int64) sandboxtg.Message {
	t.Helper()
	known := map[int64]bool{}
	for _, id := range d.messageIDs(t, user) {
		known[id] = true
	}
	d.sendText(t, user, "/start")
	menu := d.waitMessage(t, user, "a new main menu", func(m sandboxtg.Message) bool {
		return !known[m.ID] && m.HasButton("plans")
	})
	on := func(match func(sandboxtg.Message) bool) func(sandboxtg.Message) bool {
		return func(m sandboxtg.Message) bool { return m.ID == menu.ID && match(m) }
	}
	for _, step := range []struct{ press, next string }{
		{"plans", "plan:" + localstack.DemoPlanID},
		{"plan:" + localstack.DemoPlanID, "pay:cp:" + localstack.DemoPlanID},
	} {
		time.Sleep(userPace)
		d.press(t, user, menu, step.press)
		menu = d.waitMessage(t, user, "the button "+step.next, on(withButton(step.next)))
	}
	time.Sleep(userPace)
	d.press(t, user, menu, "pay:cp:"+localstack.DemoPlanID)
	return d.waitMessage(t, user, "the pay link", on(func(m sandboxtg.Message) bool {
		return strings.Contains(m.ButtonURL(), "/pay/")
	}))
}

// demoEnv is newEnv at the demo time scale, with the sandbox Crypto Pay on
// a fixed address, which it returns too.
func demoEnv(t *testing.T, dsn string) ([]string, string) {
	t.Helper()
	cryptoPay := freeAddr(t)
	return append(newEnv(t, t.TempDir(), dsn), "DEVSTACK_TIME_SCALE="+ScaleDemo, "DEVSTACK_CRYPTOPAY_ADDR="+cryptoPay), cryptoPay
}

// privateEnv is newEnv with a DATABASE_URL that answers nothing, so that
// the devstack runs its private cluster in dir, on a free port; it returns
// the cluster's DSN and port too.
func privateEnv(t *testing.T, dir string) (env []string, private string, pgPort int) {
	t.Helper()
	if os.Geteuid() == 0 {
		// As root the cluster runs as user postgres, which must be able to
		// enter the folders above it; t.TempDir's are the test user's only.
		require.NoError(t, os.Chmod(dir, 0o755))
		require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	}
	closed := freePort(t)
	pgPort = freePort(t)
	env = newEnv(t, dir, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/vpnbot?sslmode=disable", closed))
	env = append(env, "DEVSTACK_PG_PORT="+strconv.Itoa(pgPort))
	return env, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/vpnbot?sslmode=disable", pgPort), pgPort
}

// TestRealTelegramByToken is make run with TELEGRAM_BOT_TOKEN set: the
// services use the Bot API at TELEGRAM_API_URL instead of the sandbox
// Telegram, which does not run; the gateway polls it, or with
// WEBHOOK_PUBLIC_URL registers its webhook there. A second sandbox Telegram
// plays the real one.
func TestRealTelegramByToken(t *testing.T) {
	for _, webhook := range []bool{false, true} {
		name := map[bool]string{false: "polling", true: "webhook"}[webhook]
		t.Run(name, func(t *testing.T) {
			db := pgdbtest.New(t)
			const token = "987654:REAL-TELEGRAM-STAND-IN"
			fake := sandboxtg.New(sandboxtg.Config{Token: token})
			require.NoError(t, fake.Start("127.0.0.1:0"))
			t.Cleanup(fake.Close)
			env := newEnv(t, t.TempDir(), db.DSN)
			env = append(env, "TELEGRAM_BOT_TOKEN="+token, "TELEGRAM_API_URL="+fake.URL())
			want := "Telegram: " + fake.URL() + ", polling"
			if webhook {
				public := "http://" + envValue(env, "GATEWAY_ADDR")
				env = append(env, "WEBHOOK_PUBLIC_URL="+public)
				want = "Telegram: " + fake.URL() + ", webhook at " + public
			}

			d := startDevstack(t, env)
			require.Contains(t, d.out.String(), want)
			// No Bot API answers at the sandbox's address (a server of
			// another test may have taken the port since: it is no Bot API).
			botAPI := envValue(env, "SANDBOX_BOTAPI_ADDR")
			res, err := (&http.Client{Timeout: time.Second}).Get("http://" + botAPI + "/bot" + localstack.DefaultToken + "/getMe")
			if err == nil {
				_ = res.Body.Close()
				require.NotEqual(t, http.StatusOK, res.StatusCode, "the sandbox Telegram runs at %s", botAPI)
			}

			const user = 4444
			fake.SendText(user, "/start")
			ctx, cancel := context.WithTimeout(t.Context(), screenWithin)
			defer cancel()
			msgs, err := fake.WaitMessages(ctx, user, 1)
			require.NoError(t, err, "the bot did not answer through the Bot API at TELEGRAM_API_URL")
			require.True(t, withButton("trial")(msgs[0]), "the first answer is not the main menu: %q", msgs[0].Plain)
			stats := fake.Stats()
			if webhook {
				require.Positive(t, stats.Requests["setWebhook"], "the gateway set no webhook: %v", stats.Requests)
				require.Positive(t, stats.Deliveries, "no update was delivered to the webhook")
			} else {
				require.Positive(t, stats.Requests["getUpdates"], "the gateway did not poll: %v", stats.Requests)
				require.Zero(t, stats.Requests["setWebhook"], "the gateway set a webhook: %v", stats.Requests)
			}
			d.interrupt(t)
		})
	}
}

// TestDemoTimeScale is make run's default time scale: a 15-minute trial,
// a 20-minute plan the user buys through the sandbox Crypto Pay, reminders
// 10 and 5 minutes before the end, a minute's grace, workers that look
// every 10 seconds.
func TestDemoTimeScale(t *testing.T) {
	db := pgdbtest.New(t)
	env, cryptoPay := demoEnv(t, db.DSN)

	d := startDevstack(t, env)
	require.Contains(t, d.out.String(), "a trial lasts 15 minutes")
	const user = 4545
	d.sendText(t, user, "/start")
	menu := d.waitMessage(t, user, "the main menu", withButton("trial"))
	d.press(t, user, menu, "trial")
	var length time.Duration
	require.Eventually(t, func() bool {
		return db.Pool.QueryRow(t.Context(),
			`SELECT expires_at - starts_at FROM subscriptions WHERE user_id = $1`, user).Scan(&length) == nil
	}, screenWithin, 100*time.Millisecond, "no trial in the database")
	require.Equal(t, 15*time.Minute, length)

	// The demo plan, bought through the sandbox Crypto Pay, adds its 20
	// minutes to the trial. The user clicks quickly: the sandbox Telegram
	// throttles the bot to a message a second per chat, and a press whose
	// screen was throttled is shown on the retry, not dropped.
	var trialEnd time.Time
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		`SELECT expires_at FROM subscriptions WHERE user_id = $1`, user).Scan(&trialEnd))
	d.waitMessage(t, user, "the trial's key", withText("ss://"))
	time.Sleep(userPace)
	d.sendText(t, user, "/start")
	menu = d.waitMessage(t, user, "the main menu again", withButton("plans"))
	time.Sleep(userPace)
	d.press(t, user, menu, "plans")
	plans := d.waitMessage(t, user, "the demo plan first in the plans", withText("• Demo — 20 minutes, $0.50 or ⭐1\n• 1 month"))
	time.Sleep(userPace)
	d.press(t, user, plans, "plan:"+localstack.DemoPlanID)
	plan := d.waitMessage(t, user, "the demo plan's ways to pay", withButton("pay:cp:"+localstack.DemoPlanID))
	time.Sleep(userPace)
	d.press(t, user, plan, "pay:cp:"+localstack.DemoPlanID)
	var invoice string
	require.Eventually(t, func() bool {
		return db.Pool.QueryRow(t.Context(), `SELECT external_id FROM invoices
			WHERE user_id = $1 AND plan_id = $2 AND external_id IS NOT NULL`, user, localstack.DemoPlanID).Scan(&invoice) == nil
	}, screenWithin, 100*time.Millisecond, "no Crypto Pay invoice of the demo plan")
	resp, err := d.http.Post("http://"+cryptoPay+"/sandbox/invoices/"+invoice+"/paid", "application/json", nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	d.waitMessage(t, user, "the payment's confirmation", withText("Payment received"))
	var paidEnd time.Time
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		`SELECT expires_at FROM subscriptions WHERE user_id = $1 AND status = 'active'`, user).Scan(&paidEnd))
	require.Equal(t, trialEnd.Add(20*time.Minute), paidEnd)

	logs := filepath.Join(envValue(env, "DEVSTACK_DIR"), logFolder)
	for service, setting := range map[string]string{
		"reminders":      `"REMINDER_STAGES":"10m,5m"`,
		"expiry-cleanup": `"EXPIRY_GRACE":60000`,
		"activation":     `"WORKER_INTERVAL":10000`,
	} {
		require.Contains(t, configLine(t, logs, service), setting)
	}
	// The console said what the user's actions made happen, and left the
	// services' start-up and their workers' iterations to the logs.
	console := d.out.String()
	for _, ev := range []string{"UPDATE_HANDLED", "KEY_DELIVERED", "PAYMENT_APPLIED"} {
		require.Contains(t, console, " "+ev+" ", "the console shows %s", ev)
	}
	for _, ev := range []string{worker.EventIterationStart, obs.EventConfig, obs.EventServiceStart} {
		require.NotContains(t, console, " "+ev+" ", "the console leaves %s to the logs", ev)
	}
	activation, err := os.ReadFile(filepath.Join(logs, localstack.Activation+".log"))
	require.NoError(t, err)
	require.Contains(t, string(activation), worker.EventIterationEnd, "the whole log is in the service's file")
	d.interrupt(t)
}

// configLine is the service's start-up configuration line from its log in
// the log folder logs.
func configLine(t *testing.T, logs, service string) string {
	t.Helper()
	log, err := os.ReadFile(filepath.Join(logs, service+".log"))
	require.NoError(t, err)
	for line := range strings.Lines(string(log)) {
		if strings.Contains(line, `"event":"CONFIG"`) {
			return line
		}
	}
	t.Fatalf("no configuration line in the log of %s", service)
	return ""
}

// newEnv is a devstack's environment: dir for its state, dsn for its
// database, a free port for everything it listens on, and none of the real
// services' settings the test's own environment may hold.
func newEnv(t *testing.T, dir, dsn string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "DATABASE_URL", name == "LOG_LEVEL", strings.HasPrefix(name, "DEVSTACK_"),
			strings.HasPrefix(name, "TELEGRAM_"), strings.HasPrefix(name, "CRYPTOPAY_"), name == "WEBHOOK_PUBLIC_URL",
			strings.HasPrefix(name, "VPN_PANEL"), strings.HasPrefix(name, "OUTLINE_"), strings.HasPrefix(name, "REMNAWAVE_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"DEVSTACK_DIR="+dir,
		"DATABASE_URL="+dsn,
		"SANDBOX_ADDR="+freeAddr(t),
		"SANDBOX_BOTAPI_ADDR="+freeAddr(t),
		"GATEWAY_ADDR="+freeAddr(t),
		"DEVSTACK_NATS_PORT="+strconv.Itoa(freePort(t)),
		"DEVSTACK_CRYPTOPAY_ADDR=127.0.0.1:0",
		"DEVSTACK_OUTLINE_ADDR=127.0.0.1:0",
		"DEVSTACK_TIME_SCALE="+ScaleReal,
	)
}

// devstack is a running devstack process.
type devstack struct {
	cmd  *exec.Cmd
	out  *output
	done chan struct{}
	err  error // the exit, set before done closes
	// sandboxURL is the sandbox web app, which serves the sandbox
	// Telegram's control API (/sandbox/...).
	sandboxURL string
	http       *http.Client
}

// startDevstack runs the devstack with env in a process group of its own, as
// a shell runs a job, and waits for its welcome text. The test's end stops
// it if it still runs; its output is printed if the test failed.
func startDevstack(t *testing.T, env []string) *devstack {
	t.Helper()
	d := &devstack{out: &output{}, done: make(chan struct{}), http: &http.Client{Timeout: 10 * time.Second}}
	d.sandboxURL = "http://" + envValue(env, "SANDBOX_ADDR")
	d.cmd = exec.Command(binary)
	d.cmd.Env = env
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, d.cmd.Start())
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-d.done:
			case <-time.After(stopWithin):
				_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
				<-d.done
			}
		}
		if t.Failed() {
			t.Logf("devstack output:\n%s", d.out.String())
		}
	})
	deadline := time.After(readyWithin)
	for !strings.Contains(d.out.String(), welcome) {
		select {
		case <-d.done:
			t.Fatalf("the devstack exited before it was ready: %v\n%s", d.err, d.out.String())
		case <-deadline:
			t.Fatalf("the devstack was not ready within %s", readyWithin)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return d
}

// interrupt sends SIGINT to the devstack's process group, as a terminal's
// Ctrl-C does, and checks that it exits 0 in time, that every process it
// had started is gone and that every port they listened on is free.
func (d *devstack) interrupt(t *testing.T) {
	t.Helper()
	pids := descendants(d.cmd.Process.Pid)
	require.GreaterOrEqual(t, len(pids), 8, "the devstack runs fewer processes than its services: %v", pids)
	addrs := listening(t, append([]int{d.cmd.Process.Pid}, pids...))
	require.NotEmpty(t, addrs)

	require.NoError(t, syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT))
	select {
	case <-d.done:
	case <-time.After(stopWithin):
		t.Fatalf("the devstack did not exit within %s of SIGINT", stopWithin)
	}
	require.NoError(t, d.err, "the devstack's exit after SIGINT")
	for _, pid := range pids {
		require.True(t, gone(pid), "process %d outlived the devstack", pid)
	}
	for _, addr := range addrs {
		requireFree(t, addr)
	}
}

func (d *devstack) sendText(t *testing.T, user int64, text string) {
	t.Helper()
	d.post(t, fmt.Sprintf("/sandbox/users/%d/messages", user), map[string]any{"text": text})
}

func (d *devstack) press(t *testing.T, user int64, m sandboxtg.Message, data string) {
	t.Helper()
	d.post(t, fmt.Sprintf("/sandbox/users/%d/callbacks", user), map[string]any{"message_id": m.ID, "data": data})
}

func (d *devstack) post(t *testing.T, path string, body any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := d.http.Post(d.sandboxURL+path, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "POST %s: %s", path, answer)
}

// get GETs a URL and returns the status and body.
func (d *devstack) get(t *testing.T, link string) (int, string) {
	t.Helper()
	resp, err := d.http.Get(link)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// chatView is the user's chat as the web chat's page reads it.
func (d *devstack) chatView(t *testing.T, user int64) string {
	t.Helper()
	status, body := d.get(t, fmt.Sprintf("%s/api/chats/%d/messages", d.sandboxURL, user))
	require.Equal(t, http.StatusOK, status, body)
	return body
}

// messageIDs are the ids of the user's chat, both sides, from the web
// chat's API, in order.
func (d *devstack) messageIDs(t *testing.T, user int64) []int64 {
	t.Helper()
	var msgs []struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(d.chatView(t, user)), &msgs))
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// waitMessage polls the user's chat in the sandbox until a message the bot
// sent matches.
func (d *devstack) waitMessage(t *testing.T, user int64, what string, match func(sandboxtg.Message) bool) sandboxtg.Message {
	t.Helper()
	var found sandboxtg.Message
	require.Eventually(t, func() bool {
		resp, err := d.http.Get(fmt.Sprintf("%s/sandbox/chats/%d/messages", d.sandboxURL, user))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var msgs []sandboxtg.Message
		if json.NewDecoder(resp.Body).Decode(&msgs) != nil {
			return false
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			if match(msgs[i]) {
				found = msgs[i]
				return true
			}
		}
		return false
	}, screenWithin, 100*time.Millisecond, "no message with %s", what)
	return found
}

func withButton(data string) func(sandboxtg.Message) bool {
	return func(m sandboxtg.Message) bool { return m.HasButton(data) }
}

func withText(s string) func(sandboxtg.Message) bool {
	return func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, s) }
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(p); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentOf reads a process's parent from /proc/<pid>/stat, whose second
// field (the command, in parentheses) may hold spaces.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// gone reports whether pid no longer runs (a zombie counts as gone: it holds
// no port and waits only for its parent's wait).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

// listening returns the TCP addresses the processes listen on: their socket
// inodes (/proc/<pid>/fd) found among the listening sockets of
// /proc/net/tcp and tcp6.
func listening(t *testing.T, pids []int) []string {
	t.Helper()
	inodes := map[string]bool{}
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
				inodes[strings.TrimSuffix(inode, "]")] = true
			}
		}
	}
	var addrs []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			const listen = "0A"
			if len(fields) < 10 || fields[3] != listen || !inodes[fields[9]] {
				continue
			}
			addr, err := hexAddr(fields[1])
			require.NoError(t, err)
			addrs = append(addrs, addr)
		}
		_ = f.Close()
	}
	return addrs
}

// hexAddr decodes /proc/net/tcp's address:port (IPv4 or IPv6, each 32-bit
// word in host byte order) into host:port.
func hexAddr(s string) (string, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", s, err)
	}
	var ip net.IP
	for i := 0; i+8 <= len(h); i += 8 {
		word, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			return "", fmt.Errorf("address %q: %w", s, err)
		}
		ip = append(ip, byte(word), byte(word>>8), byte(word>>16), byte(word>>24))
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port))), nil
}

// requireFree fails unless the test can listen on addr.
func requireFree(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "port %s is still bound", addr)
	require.NoError(t, ln.Close())
}

// postmasterPID reads the private cluster's server process from its pid file.
func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "postgres", "data", "postmaster.pid"))
	require.NoError(t, err, "the private cluster is not running")
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	require.NoError(t, err)
	return pid
}

func countUsers(t *testing.T, dsn string, id int64) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE id = $1`, id).Scan(&n))
	return n
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := localstack.FreeAddr()
	require.NoError(t, err)
	return addr
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, err := net.SplitHostPort(freeAddr(t))
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return n
}

// output collects a process's output for the test to search.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
