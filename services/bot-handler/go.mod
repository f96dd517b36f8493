module github.com/vpnbot/vpnbot/services/bot-handler

go 1.26.0

replace github.com/vpnbot/vpnbot/pkg => ../../pkg
