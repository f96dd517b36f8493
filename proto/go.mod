module github.com/vpnbot/vpnbot/proto

go 1.26
