// Command dlq is on-call's tool for the dead-letter stream (DESIGN §2): it
// lists what could not be handled, and why, and replays chosen messages to
// the subject they came from once the cause is fixed.
//
//	dlq list [-stream TG_UPDATES] [-limit 50]
//	dlq show SEQ
//	dlq replay SEQ [SEQ...]
//
// A dead letter's trace id (from its traceparent, when tracing was on) is
// the trace to open in the trace backend, and the trace_id to search the
// logs for: its whole path up to the failure. A replay continues that trace.
//
// It reads NATS_URL like every service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/config"
)

// Config is the dlq command's configuration.
type Config struct {
	NATSURL string `env:"NATS_URL" secret:"dsn"`
}

const usage = `usage:
  dlq list [-stream NAME] [-limit N]   list dead letters, oldest first, with their trace ids
  dlq show SEQ                         one dead letter whole: why, its trace id, the stack of a handler that panicked, the body
  dlq replay SEQ [SEQ...]              republish dead letters to their original subject and remove them`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(1)
	}
}

// errUsage is a command line that names no known command.
var errUsage = errors.New(usage)

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	cfg, err := config.Load(Config{NATSURL: config.NewBase("").NATSURL})
	if err != nil {
		return err
	}
	nc, js, err := bus.Connect(ctx, cfg.NATSURL, "dlq", zerolog.Nop())
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	switch args[0] {
	case "list":
		fs := flag.NewFlagSet("list", flag.ContinueOnError)
		stream := fs.String("stream", "", "only dead letters from this stream (default: all)")
		limit := fs.Int("limit", 50, "list at most this many")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		entries, err := bus.ListDLQ(ctx, js, *stream, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tREASON\tDELIVERIES\tSUBJECT\tMSG ID\tTRACE ID\tERROR")
		for _, e := range entries {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Reason,
				e.Deliveries, e.Subject, e.MsgID, traceID(e), e.Error)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(out, "%d dead letter(s)\n", len(entries))
		return nil
	case "show":
		if len(args) != 2 {
			return errUsage
		}
		seq, err := parseSeq(args[1])
		if err != nil {
			return err
		}
		e, err := bus.GetDLQ(ctx, js, seq)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "seq:        %d\ntime:       %s\nreason:     %s\nerror:      %s\nstream:     %s\nsubject:    %s\nmsg id:     %s\ndeliveries: %d\ntrace id:   %s\n",
			e.Seq, e.Time.Format(time.RFC3339), e.Reason, e.Error, e.Stream, e.Subject, e.MsgID, e.Deliveries, traceID(e))
		if e.Stack != "" {
			fmt.Fprintf(out, "stack:\n%s\n", e.Stack)
		}
		fmt.Fprintf(out, "body (%d bytes):\n%s\n", len(e.Data), e.Data)
		return nil
	case "replay":
		if len(args) < 2 {
			return errUsage
		}
		for _, a := range args[1:] {
			seq, err := parseSeq(a)
			if err != nil {
				return err
			}
			if err := bus.ReplayDLQ(ctx, js, seq); err != nil {
				return fmt.Errorf("replaying %d: %w", seq, err)
			}
			fmt.Fprintf(out, "replayed %d\n", seq)
		}
		return nil
	default:
		return errUsage
	}
}

// traceID is e's trace id, or "-" when its message was not traced.
func traceID(e bus.DLQEntry) string {
	if e.TraceID == "" {
		return "-"
	}
	return e.TraceID
}

// parseSeq reads a DLQ sequence number from the command line.
func parseSeq(a string) (uint64, error) {
	seq, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a DLQ sequence number", a)
	}
	return seq, nil
}
