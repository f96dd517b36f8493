package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/retry"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

const (
	// failoverLatency slows every sendMessage a little, so that at a kill
	// the killed replica holds several chats' messages mid-handling, as a
	// busy replica would.
	failoverLatency = 100 * time.Millisecond
	// failoverLookahead: a message sent this long after a kill still counts
	// as the kill's, since it may queue behind one the dead replica held.
	failoverLookahead = 2 * time.Second
	// failoverSettle bounds the wait for every message around a kill to be
	// answered before the killed replica is started again.
	failoverSettle = 2 * time.Minute
	// failoverPause is the steady traffic before each kill, and after the
	// killed replica is back.
	failoverPause = 4 * time.Second
)

// sent is when something was sent to a chat, and the text that identifies
// it there: the user's message or a sender command.
type sent struct {
	at   time.Time
	text string
}

// driver sends one message to each chat every period, in turn, until
// stopped, and records what it sent.
type driver struct {
	mu   sync.Mutex
	sent map[int64][]sent
	stop chan struct{}
	done chan struct{}
}

func drive(chats []int64, period time.Duration, send func(chat int64, n int) (sent, error)) *driver {
	d := &driver{sent: map[int64][]sent{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		tick := time.NewTicker(period / time.Duration(len(chats)))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-d.stop:
				return
			case <-tick.C:
			}
			chat := chats[i%len(chats)]
			d.mu.Lock()
			n := len(d.sent[chat])
			d.mu.Unlock()
			s, err := send(chat, n)
			if err != nil {
				continue // not sent: nothing to wait for
			}
			d.mu.Lock()
			d.sent[chat] = append(d.sent[chat], s)
			d.mu.Unlock()
		}
	}()
	return d
}

func (d *driver) halt() map[int64][]sent {
	close(d.stop)
	<-d.done
	return d.sent
}

// snapshot is what was sent to chat so far.
func (d *driver) snapshot(chat int64) []sent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sent[chat])
}

// failoverResult is one scenario's figures over its kills.
type failoverResult struct {
	name     string
	kills    int
	affected int
	// stalls is, per affected chat and kill, the longest a message waited
	// for its first answer counted from the kill (or from its sending, if
	// later): how long the user saw silence.
	stalls     []time.Duration
	doubles    int // messages answered or sent twice
	outOfOrder int // chats whose answers came out of order
}

// benchFailover kills a bot-handler replica, then the sender's leader, each
// o.failoverKills times under steady traffic, and measures how long the
// chats whose messages were in flight wait for their next answer.
func benchFailover(ctx context.Context, o options, dir, bin string, logs io.Writer) error {
	dsn, err := freshDatabase(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	st, err := localstack.Start(ctx, localstack.Config{
		Dir:         filepath.Join(dir, "failover"),
		BinDir:      bin,
		Prebuilt:    true,
		DatabaseURL: dsn,
		BotHandlers: 2,
		Replicas:    map[string]int{localstack.Sender: 2},
		GlobalRate:  -1,
		ChatRate:    -1,
		Env:         []string{"SENDER_RATE=400", "TELEGRAM_CHAT_RATE=20"},
		Output:      logs,
		Log:         nopLog,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	st.Sandbox.Inject(sandboxtg.Fault{Method: "sendMessage", Latency: failoverLatency})

	handler, err := failoverBotHandler(ctx, o, st)
	if err != nil {
		return fmt.Errorf("bot-handler: %w", err)
	}
	sender, err := failoverSender(ctx, o, st)
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	fmt.Printf("\nFailover: SIGKILL of one of two replicas under steady traffic (%d chats, a message each every %s, sendMessage %s)\n\n",
		o.failoverChats, o.failoverPeriod, failoverLatency)
	fmt.Println("| killed | kills | affected chats | stall p50 | p90 | p99 | max | answered twice | chats out of order |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	slices.Sort(handler.stalls)
	slices.Sort(sender.stalls)
	for _, r := range []failoverResult{handler, sender} {
		fmt.Printf("| %s | %d | %d | %s | %s | %s | %s | %d | %d |\n", r.name, r.kills, r.affected,
			secs(percentile(r.stalls, 0.50)), secs(percentile(r.stalls, 0.90)), secs(percentile(r.stalls, 0.99)),
			secs(percentile(r.stalls, 1)), r.doubles, r.outOfOrder)
	}
	worst := max(percentile(handler.stalls, 1), percentile(sender.stalls, 1))
	fmt.Printf("\nevery affected chat answered within 5 s of the kill: %s (worst %s)\n\n", verdict(worst <= 5*time.Second), secs(worst))
	return nil
}

// failoverBotHandler kills bot-handler replicas in turn while users write.
func failoverBotHandler(ctx context.Context, o options, st *localstack.Stack) (failoverResult, error) {
	chats := make([]int64, o.failoverChats)
	for i := range chats {
		chats[i] = int64(3_000_000 + i)
	}
	d := drive(chats, o.failoverPeriod, func(chat int64, n int) (sent, error) {
		text := "message " + strconv.Itoa(n)
		at := time.Now()
		st.Sandbox.SendText(chat, text)
		return sent{at: at, text: text}, nil
	})
	// answers are the times of the bot's replies to each of the user's
	// messages, by its text, in the chat's order.
	answers := func(chat int64) (map[string][]time.Time, []string) {
		texts := map[int64]string{}
		out := map[string][]time.Time{}
		var order []string
		for _, m := range st.Sandbox.History(chat) {
			if m.FromUser {
				texts[m.ID] = m.Plain
				continue
			}
			text := texts[m.ReplyTo]
			out[text] = append(out[text], m.Date)
			order = append(order, text)
		}
		return out, order
	}
	answered := func(chat int64) func(sent) bool {
		got, _ := answers(chat)
		return func(s sent) bool { return len(got[s.text]) > 0 }
	}
	kills, err := killInTurns(ctx, o, "bot-handler", func(k int) (int, error) {
		r := k % 2
		return r, st.Kill(localstack.BotHandler, r)
	}, func(r int) error { return st.Start(localstack.BotHandler, r) },
		func(until time.Time) int { return unanswered(chats, d, until, answered) })
	all := d.halt()
	if err != nil {
		return failoverResult{}, err
	}
	if !waitFor(ctx, failoverSettle, func() bool { return unanswered(chats, d, time.Now(), answered) == 0 }) {
		return failoverResult{}, fmt.Errorf("not every message was answered within %s", failoverSettle)
	}
	res := failoverResult{name: "bot-handler (1 of 2)", kills: len(kills)}
	for _, chat := range chats {
		got, order := answers(chat)
		res.add(kills, all[chat], func(s sent) time.Time { return got[s.text][0] })
		res.count(got, order, "message ")
	}
	return res, nil
}

// failoverSender kills the sender's leader in turn while notifications are
// published to every chat.
func failoverSender(ctx context.Context, o options, st *localstack.Stack) (failoverResult, error) {
	_, js, err := bus.Connect(ctx, st.NATSURL, "bench-failover", nopLog)
	if err != nil {
		return failoverResult{}, err
	}
	chats := make([]int64, o.failoverChats)
	for i := range chats {
		chats[i] = int64(4_000_000 + i)
	}
	d := drive(chats, o.failoverPeriod, func(chat int64, n int) (sent, error) {
		text := "notice " + strconv.Itoa(n)
		at := time.Now()
		_, err := outbox.Publish(ctx, js, &vpnbotv1.SendMessage{
			DedupId: fmt.Sprintf("failover:%d:%d", chat, n), ChatId: chat, Text: text,
			Priority: vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		})
		return sent{at: at, text: text}, err
	})
	// deliveries are the times each notice reached the chat, by its text,
	// and the texts in the chat's order.
	deliveries := func(chat int64) (map[string][]time.Time, []string) {
		out := map[string][]time.Time{}
		var order []string
		for _, m := range st.Sandbox.Messages(chat) {
			out[m.Plain] = append(out[m.Plain], m.Date)
			order = append(order, m.Plain)
		}
		return out, order
	}
	delivered := func(chat int64) func(sent) bool {
		got, _ := deliveries(chat)
		return func(s sent) bool { return len(got[s.text]) > 0 }
	}
	kills, err := killInTurns(ctx, o, "sender", func(int) (int, error) {
		leader, err := senderLeader(ctx, st)
		if err != nil {
			return 0, err
		}
		return leader, st.Kill(localstack.Sender, leader)
	}, func(r int) error { return st.Start(localstack.Sender, r) },
		func(until time.Time) int { return unanswered(chats, d, until, delivered) })
	all := d.halt()
	if err != nil {
		return failoverResult{}, err
	}
	if !waitFor(ctx, failoverSettle, func() bool { return unanswered(chats, d, time.Now(), delivered) == 0 }) {
		return failoverResult{}, fmt.Errorf("not every notice was delivered within %s", failoverSettle)
	}
	res := failoverResult{name: "sender leader (1 of 2)", kills: len(kills)}
	for _, chat := range chats {
		got, order := deliveries(chat)
		res.add(kills, all[chat], func(s sent) time.Time { return got[s.text][0] })
		res.count(got, order, "notice ")
	}
	return res, nil
}

// senderLeader is the sender replica that leads now.
func senderLeader(ctx context.Context, st *localstack.Stack) (int, error) {
	var leader int
	ok := waitFor(ctx, 30*time.Second, func() bool {
		for r := range 2 {
			if !st.Running(localstack.Sender, r) {
				continue
			}
			m, err := st.Metrics(ctx, localstack.Sender, r)
			if err == nil && m["vpnbot_leader"] == 1 {
				leader = r
				return true
			}
		}
		return false
	})
	if !ok {
		return 0, fmt.Errorf("no sender replica leads")
	}
	return leader, nil
}

// killInTurns kills a replica (kill returns which) o.failoverKills times,
// each after steady traffic, waits until every message sent up to
// failoverLookahead after the kill is answered, then starts the replica
// again. It returns the times of the kills.
func killInTurns(ctx context.Context, o options, name string, kill func(k int) (int, error), restart func(r int) error, left func(until time.Time) int) ([]time.Time, error) {
	var kills []time.Time
	for k := range o.failoverKills {
		if !retry.Sleep(ctx, failoverPause) {
			return kills, ctx.Err()
		}
		fmt.Printf("failover: killing a %s replica (%d of %d)…\n", name, k+1, o.failoverKills)
		r, err := kill(k)
		if err != nil {
			return kills, err
		}
		at := time.Now()
		kills = append(kills, at)
		if !retry.Sleep(ctx, failoverLookahead) {
			return kills, ctx.Err()
		}
		if !waitFor(ctx, failoverSettle, func() bool { return left(at.Add(failoverLookahead)) == 0 }) {
			return kills, fmt.Errorf("kill %d: %d messages sent up to %s after it still unanswered after %s",
				k+1, left(at.Add(failoverLookahead)), failoverLookahead, failoverSettle)
		}
		if err := restart(r); err != nil {
			return kills, err
		}
	}
	retry.Sleep(ctx, failoverPause)
	return kills, ctx.Err()
}

// unanswered counts the messages sent to chats before until without an
// answer yet; answered(chat) tells the chat's answered messages as they are
// now.
func unanswered(chats []int64, d *driver, until time.Time, answered func(chat int64) func(sent) bool) int {
	n := 0
	for _, chat := range chats {
		has := answered(chat)
		for _, s := range d.snapshot(chat) {
			if s.at.Before(until) && !has(s) {
				n++
			}
		}
	}
	return n
}

// add counts, for each kill, the chat if a message sent to it before the
// kill was still unanswered then, with its stall: the longest wait, counted
// from the kill, of the messages sent up to failoverLookahead after it that
// were answered only after it.
func (r *failoverResult) add(kills []time.Time, msgs []sent, firstAnswer func(sent) time.Time) {
	for _, k := range kills {
		affected := false
		var stall time.Duration
		for _, s := range msgs {
			answered := firstAnswer(s)
			if s.at.After(k.Add(failoverLookahead)) || !answered.After(k) {
				continue
			}
			if s.at.Before(k) {
				affected = true
			}
			stall = max(stall, answered.Sub(later(s.at, k)))
		}
		if affected {
			r.affected++
			r.stalls = append(r.stalls, stall)
		}
	}
}

// count adds a chat's messages answered more than once, and the chat if its
// answers came out of order: order lists the texts answered, "<prefix><n>",
// as the chat shows them.
func (r *failoverResult) count(answers map[string][]time.Time, order []string, prefix string) {
	for _, times := range answers {
		r.doubles += len(times) - 1
	}
	last := -1
	for _, text := range order {
		n, err := strconv.Atoi(strings.TrimPrefix(text, prefix))
		if err != nil || n < last {
			r.outOfOrder++
			return
		}
		last = n
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
