package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/localstack"
)

var nopLog = zerolog.Nop()

const benchDatabase = "vpnbot_bench"

// benchPipeline sends o.rate updates per second from o.chats sandbox users
// through the whole system and measures, for each, the time from the user's
// message to the bot's reply arriving at the sandbox.
func benchPipeline(ctx context.Context, o options, dir, bin string, logs io.Writer) error {
	dsn, err := freshDatabase(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	st, err := localstack.Start(ctx, localstack.Config{
		Dir:         filepath.Join(dir, "stack"),
		BinDir:      bin,
		Prebuilt:    true,
		DatabaseURL: dsn,
		BotHandlers: o.botHandlers,
		GlobalRate:  -1,
		ChatRate:    -1,
		Output:      logs,
		Log:         nopLog,
	})
	if err != nil {
		return err
	}
	defer st.Close()

	total := int(o.pipelineFor.Seconds() * float64(o.rate))
	fmt.Printf("pipeline: %d updates at %d/s from %d chats, %d bot-handler(s)…\n", total, o.rate, o.chats, o.botHandlers)
	sent := make(map[int64][]time.Time, o.chats) // when each chat's messages were sent, in order
	tick := time.NewTicker(time.Second / time.Duration(o.rate))
	defer tick.Stop()
	for i := range total {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		chat := int64(2_000_000 + i%o.chats)
		st.Sandbox.SendText(chat, fmt.Sprintf("message %d", len(sent[chat])))
		sent[chat] = append(sent[chat], time.Now())
	}

	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var latencies []time.Duration
	for chat, times := range sent {
		replies, err := st.Sandbox.WaitMessages(waitCtx, chat, len(times))
		if err != nil {
			return fmt.Errorf("chat %d: waiting for %d replies: %w", chat, len(times), err)
		}
		// A chat's replies come in the order of its messages (the pipeline
		// keeps per-chat order), so the k-th reply answers the k-th message.
		for k, r := range replies[:len(times)] {
			latencies = append(latencies, r.Date.Sub(times[k]))
		}
	}
	slices.Sort(latencies)
	fmt.Printf("\nPipeline: update → reply, %d updates/s for %s, %d chats, %d bot-handler(s), sandbox Telegram\n\n", o.rate, o.pipelineFor, o.chats, o.botHandlers)
	fmt.Println("| updates | replies | p50 | p90 | p99 | max |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	fmt.Printf("| %d | %d | %s | %s | %s | %s |\n", total, len(latencies),
		ms(percentile(latencies, 0.50)), ms(percentile(latencies, 0.90)), ms(percentile(latencies, 0.99)), ms(percentile(latencies, 1)))
	return nil
}

// freshDatabase drops and creates the benchmark's own database on the server
// at serverURL and returns its DSN.
func freshDatabase(ctx context.Context, serverURL string) (string, error) {
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", serverURL, err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{"DROP DATABASE IF EXISTS " + benchDatabase + " WITH (FORCE)", "CREATE DATABASE " + benchDatabase} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return "", fmt.Errorf("%s: %w", sql, err)
		}
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, benchDatabase), nil
}
