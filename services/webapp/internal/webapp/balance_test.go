package webapp_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/webapp/internal/webapp"
)

// A plan paid from the balance in the app is bought once per request, the
// request sent four times at once as retries would; a new request buys
// again, and one the balance cannot cover buys nothing.
func TestAPlanIsBoughtFromTheBalanceOncePerRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const user = 72001
	e.user(t, user, "en")
	trial := e.trialWithKey(t, user, "ss://Y2hhY2hh@vpn.example.com:443/?outline=1")
	_, err := e.shop.AdminGrantBalance(t.Context(), shop.Act{OpKey: "seed", AdminID: 1}, user, shop.CurrencyUSD, 1000)
	require.NoError(t, err)
	s := e.signIn(t, user)
	plan, err := e.shop.Plan(t.Context(), "m1")
	require.NoError(t, err)
	cents, err := shop.ParseCents(plan.PriceUSD)
	require.NoError(t, err)
	buy := func(id string) response {
		return e.order(t, s, `{"plan":"m1","provider":"balance","currency":"USD","request_id":"`+id+`"}`)
	}

	var wg sync.WaitGroup
	got := make([]response, 4)
	for i := range got {
		wg.Go(func() { got[i] = buy("press-00000001") })
	}
	wg.Wait()
	var first webapp.Purchase
	got[0].json(t, &first)
	for _, res := range got {
		require.Equal(t, http.StatusOK, res.Code, res.Body.String())
		var p webapp.Purchase
		res.json(t, &p)
		require.Equal(t, first.ExpiresAt, p.ExpiresAt, "the same purchase")
	}
	require.Equal(t, trial.ExpiresAt.Add(plan.Duration), first.ExpiresAt, "the plan's time added to the trial's")
	balance, err := e.shop.Balance(t.Context(), user, shop.CurrencyUSD)
	require.NoError(t, err)
	require.Equal(t, 1000-cents, balance, "paid once")

	res := buy("press-00000002")
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())
	res = buy("press-00000003")
	require.Equal(t, http.StatusConflict, res.Code)
	require.Equal(t, "insufficient_balance", res.errorCode(t))
	var purchases int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM ledger WHERE kind = 'purchase' AND user_id = $1`, user).Scan(&purchases))
	require.Equal(t, 2, purchases)

	for _, body := range []string{
		`{"plan":"m1","provider":"balance","currency":"USD"}`,
		`{"plan":"m1","provider":"balance","currency":"EUR","request_id":"press-00000004"}`,
		`{"plan":"m1","provider":"balance","currency":"USD","request_id":"<script>"}`,
	} {
		require.Equal(t, http.StatusBadRequest, e.order(t, s, body).Code, body)
	}
	res = e.order(t, s, `{"plan":"nope","provider":"balance","currency":"USD","request_id":"press-00000005"}`)
	require.Equal(t, http.StatusNotFound, res.Code, res.Body.String())
}
