module github.com/vpnbot/vpnbot/services/devstack

go 1.26.0

replace github.com/vpnbot/vpnbot/pkg => ../../pkg
