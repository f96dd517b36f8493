package bot

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestInviteScreensMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	link := InviteLink("vpnbot_test_bot", 1001)
	week := shop.Referrals{Inviter: shop.Reward{Days: shop.DefaultReferralDays}}
	screens := map[string]func(lang string) Screen{
		"invite_new": func(l string) Screen { return InviteScreen(l, link, week, shop.ReferralStats{}) },
		"invite_earned": func(l string) Screen {
			return InviteScreen(l, link,
				shop.Referrals{Inviter: shop.Reward{Days: 7, Percent: 10}, Invitee: shop.Reward{Days: 3}},
				shop.ReferralStats{Invited: 5, Paid: 2, Days: 14 * 24 * time.Hour, Balance: []shop.Balance{
					{Currency: shop.CurrencyUSD, Amount: 49}, {Currency: shop.CurrencyXTR, Amount: 25},
				}})
		},
		"invite_shares": func(l string) Screen {
			return InviteScreen(l, link,
				shop.Referrals{Inviter: shop.Reward{Percent: 10, Every: true}, Invitee: shop.Reward{Percent: 5, Days: 1, Every: true}},
				shop.ReferralStats{Invited: 1, Balance: []shop.Balance{{Currency: shop.CurrencyXTR, Amount: 7}}})
		},
		"invite_no_rewards": func(l string) Screen { return InviteScreen(l, link, shop.Referrals{}, shop.ReferralStats{Invited: 2}) },
	}
	requireGolden(t, filepath.Join("testdata", "invite"), screens)
}
