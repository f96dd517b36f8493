package webapp_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/webapp/internal/webapp"
)

// botAPI records the invoice links the app asks for.
type botAPI struct {
	mu    sync.Mutex
	calls []map[string]any
	fail  error
}

func (b *botAPI) Call(_ context.Context, method string, params, result any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if method != "createInvoiceLink" {
		return errors.New("unexpected method " + method)
	}
	if b.fail != nil {
		return b.fail
	}
	b.calls = append(b.calls, params.(map[string]any))
	*result.(*string) = "https://t.me/$slug" + string(rune('a'+len(b.calls)-1))
	return nil
}

func (b *botAPI) links() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.calls...)
}

func TestAStarsOrderIsTheBotsOrderWithAnInvoiceLink(t *testing.T) {
	t.Parallel()
	api := &botAPI{}
	e := newEnv(t, func(c *webapp.Config) { c.Telegram = api })
	e.user(t, 1, "ru")
	s := e.signIn(t, 1)
	require.True(t, e.me(t, s).Stars)

	res := e.order(t, s, `{"plan":"m1","provider":"stars","request_id":"press-0001"}`)
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())
	var o webapp.OrderCreated
	res.json(t, &o)
	plan, err := e.shop.Plan(t.Context(), "m1")
	require.NoError(t, err)
	require.Equal(t, shop.ProviderStars, o.Provider)
	require.Equal(t, plan.PriceStars, o.PriceStars)
	require.Equal(t, "https://t.me/$sluga", o.PayURL)

	links := api.links()
	require.Len(t, links, 1)
	title, description := botui.TextsIn("ru").PlanInvoice(plan.TitleRU, plan.Duration)
	require.Equal(t, map[string]any{
		"title": title, "description": description, "payload": shop.StarsPayload(o.ID), "currency": shop.StarsCurrency,
		"prices": []map[string]any{{"label": title, "amount": plan.PriceStars}},
	}, links[0], "the bot's invoice, in the user's language, naming the order")

	again := e.order(t, s, `{"plan":"m1","provider":"stars","request_id":"press-0001"}`)
	require.Equal(t, http.StatusOK, again.Code)
	var o2 webapp.OrderCreated
	again.json(t, &o2)
	require.Equal(t, o.ID, o2.ID, "a request sent again is the same order")
	other := e.order(t, s, `{"plan":"m1","provider":"stars","request_id":"press-0002"}`)
	var o3 webapp.OrderCreated
	other.json(t, &o3)
	require.NotEqual(t, o.ID, o3.ID, "another press is another order")

	// Paid (as the bot applies a Stars payment), the request no longer
	// offers it.
	_, applied, err := e.shop.ApplyStarsPayment(t.Context(), 1, shop.StarsPayload(o.ID), "stx-charge-1", plan.PriceStars)
	require.NoError(t, err)
	require.True(t, applied)
	res = e.order(t, s, `{"plan":"m1","provider":"stars","request_id":"press-0001"}`)
	require.Equal(t, http.StatusConflict, res.Code)
	require.Equal(t, "order_closed", res.errorCode(t))
}

func TestStarsOrdersTheAppCannotMakeAreRefused(t *testing.T) {
	t.Parallel()
	api := &botAPI{}
	e := newEnv(t, func(c *webapp.Config) { c.Telegram = api })
	e.user(t, 1, "en")
	e.user(t, 2, "en")
	s := e.signIn(t, 1)
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"plan":"m1","provider":"stars"}`, http.StatusBadRequest, "bad_request"},
		{`{"plan":"m1","provider":"stars","request_id":"x"}`, http.StatusBadRequest, "bad_request"},
		{`{"plan":"nope","provider":"stars","request_id":"press-0001"}`, http.StatusNotFound, "unknown_plan"},
	} {
		res := e.order(t, s, c.body)
		require.Equal(t, c.code, res.Code, c.body)
		require.Equal(t, c.want, res.errorCode(t), c.body)
	}
	require.Empty(t, api.links())

	// Another user's press id is theirs: the same id orders for this
	// user only.
	res := e.order(t, e.signIn(t, 2), `{"plan":"m1","provider":"stars","request_id":"press-0003"}`)
	require.Equal(t, http.StatusOK, res.Code)
	res = e.order(t, s, `{"plan":"m1","provider":"stars","request_id":"press-0003"}`)
	require.Equal(t, http.StatusOK, res.Code)
	var mine webapp.OrderCreated
	res.json(t, &mine)
	inv, err := e.shop.Invoice(t.Context(), mine.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), inv.UserID)

	api.mu.Lock()
	api.fail = errors.New("telegram: 502")
	api.mu.Unlock()
	res = e.order(t, s, `{"plan":"m1","provider":"stars","request_id":"press-0004"}`)
	require.Equal(t, http.StatusServiceUnavailable, res.Code)
	require.Equal(t, "payments_down", res.errorCode(t))
	require.Len(t, e.logs.Events(t, webapp.EventInvoiceLinkFailed), 1)
}
