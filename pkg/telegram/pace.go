package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/retry"
)

// Pacer keeps the bot's messages within Telegram's limits, per chat and
// bot-wide, across every process that sends as the bot: the bot-handler's
// replies and the sender's notifications share one budget, so together
// they are never refused with a 429.
type Pacer interface {
	// Reserve takes the bot's next sending slot and the chat's no earlier,
	// and returns how long to wait before it comes.
	Reserve(ctx context.Context, chatID int64) (time.Duration, error)
	// ReserveChat takes the chat's next slot only, not the bot's: for a
	// paid broadcast's message (allow_paid_broadcast), which Telegram
	// counts apart from the bot's free limit while the chat's still holds.
	ReserveChat(ctx context.Context, chatID int64) (time.Duration, error)
}

// Sends reports whether a Bot API method posts or changes a message in a
// chat, the calls Telegram's flood limits count (method names are matched
// case-insensitively, as Telegram does).
func Sends(method string) bool {
	m := strings.ToLower(method)
	switch {
	case m == "sendchataction":
		return false
	case strings.HasPrefix(m, "send"), strings.HasPrefix(m, "editmessage"),
		strings.HasPrefix(m, "copymessage"), strings.HasPrefix(m, "forwardmessage"):
		return true
	}
	return false
}

// pace waits for the chat's slot before a sending call. It reads the chat
// from the request's body, putting the body back; a paid broadcast's
// message (allow_paid_broadcast true) takes the chat's slot only, since the
// bot-wide budget is the free limit's. A pacer that fails (its
// database is unreachable) lets the call go: Telegram's own 429 is the
// backstop, and every caller handles it. Only the end of ctx stops the call.
func (c *Client) pace(ctx context.Context, method string, req *http.Request) error {
	if c.pacer == nil || !Sends(method) {
		return nil
	}
	chatID, paid, err := requestTarget(req)
	if err != nil {
		return fmt.Errorf("telegram %s: %w", method, err)
	}
	if chatID == 0 {
		return nil // a channel's @username: not a chat the bot's users talk in
	}
	reserve := c.pacer.Reserve
	if paid {
		reserve = c.pacer.ReserveChat
	}
	wait, err := reserve(ctx, chatID)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("telegram %s: waiting for the chat's turn: %w", method, ctx.Err())
		}
		c.paceFailures.Inc()
		return nil
	}
	c.paceWait.Observe(wait.Seconds())
	if !retry.Sleep(ctx, wait) {
		return fmt.Errorf("telegram %s: waiting %s for the chat's turn: %w", method, wait, ctx.Err())
	}
	return nil
}

// maxPacedBody bounds the body read to find a sending call's chat: a photo
// upload is the largest the bot makes.
const maxPacedBody = 10 << 20

// requestTarget returns the chat_id of a Bot API request sent as JSON (the
// client's Call, telebot) or as a multipart form (uploads), and whether it
// is a paid broadcast's (allow_paid_broadcast true), and leaves the body
// readable again. It returns chat 0 for a chat given by @username or for a
// body of another kind.
func requestTarget(req *http.Request) (chatID int64, paid bool, err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return 0, false, nil
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxPacedBody+1))
	req.Body.Close()
	if err != nil {
		return 0, false, fmt.Errorf("reading the request body: %w", err)
	}
	if len(body) > maxPacedBody {
		return 0, false, fmt.Errorf("request body over %d bytes", maxPacedBody)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))

	mediaType, params, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	var rawChat, rawPaid string
	switch mediaType {
	case "application/json":
		var p struct {
			ChatID json.RawMessage `json:"chat_id"`
			Paid   json.RawMessage `json:"allow_paid_broadcast"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return 0, false, fmt.Errorf("decoding the request body: %w", err)
		}
		rawChat, rawPaid = strings.Trim(string(p.ChatID), `"`), strings.Trim(string(p.Paid), `"`)
	case "multipart/form-data":
		f, err := formFields(body, params["boundary"], "chat_id", "allow_paid_broadcast")
		if err != nil {
			return 0, false, err
		}
		rawChat, rawPaid = f["chat_id"], f["allow_paid_broadcast"]
	case "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return 0, false, fmt.Errorf("decoding the request body: %w", err)
		}
		rawChat, rawPaid = q.Get("chat_id"), q.Get("allow_paid_broadcast")
	default:
		return 0, false, nil
	}
	id, err := strconv.ParseInt(rawChat, 10, 64)
	if err != nil {
		return 0, false, nil
	}
	// Telegram reads a boolean parameter given as text the same way.
	paid, _ = strconv.ParseBool(rawPaid)
	return id, paid, nil
}

// formFields returns the values of the named fields of a multipart form.
func formFields(body []byte, boundary string, names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for len(out) < len(names) {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decoding the request form: %w", err)
		}
		if !slices.Contains(names, p.FormName()) {
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, 64))
		if err != nil {
			return nil, fmt.Errorf("decoding the request form: %w", err)
		}
		out[p.FormName()] = string(v)
	}
	return out, nil
}
