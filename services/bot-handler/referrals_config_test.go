package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestReferralRewardsFromTheEnvironment(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "123:secret")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, shop.Referrals{Inviter: shop.Reward{Days: 7}}, cfg.Referrals.Referrals(),
		"by default the inviter gets a week for the invitee's first payment")
	require.Equal(t, 7, config.Fields(cfg)["REFERRAL_INVITER_DAYS"])

	t.Setenv("REFERRAL_INVITER_DAYS", "0")
	t.Setenv("REFERRAL_INVITER_PERCENT", "10")
	t.Setenv("REFERRAL_INVITER_EVERY_PAYMENT", "true")
	t.Setenv("REFERRAL_INVITEE_DAYS", "3")
	cfg, err = config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, shop.Referrals{
		Inviter: shop.Reward{Percent: 10, Every: true},
		Invitee: shop.Reward{Days: 3},
	}, cfg.Referrals.Referrals())

	t.Setenv("REFERRAL_INVITEE_PERCENT", "150")
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, "REFERRAL_INVITEE_PERCENT=150")
}
