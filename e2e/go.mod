module github.com/vpnbot/vpnbot/e2e

go 1.26.0

replace github.com/vpnbot/vpnbot/pkg => ../pkg
