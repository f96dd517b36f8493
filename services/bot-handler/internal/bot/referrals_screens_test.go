package bot

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
	dir := filepath.Join("testdata", "invite")
	if *update {
		require.NoError(t, os.RemoveAll(dir))
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for name, screen := range screens {
		for _, lang := range languages {
			s := screen(lang)
			requireValidScreen(t, name, s)
			path := filepath.Join(dir, name+"."+lang+".txt")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(render(s)), 0o644))
				continue
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "no golden file for %s: run go test ./internal/bot -update", name)
			require.Equal(t, string(want), render(s), "screen %s differs from %s (go test ./internal/bot -update rewrites it)", name, path)
		}
	}
	if !*update {
		files, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, files, len(screens)*len(languages), "golden files of screens that no longer exist")
	}
}
