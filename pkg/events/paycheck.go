package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// SubjectPaymentCheck is where the bot-handler asks the payment-watcher to
// check one Crypto Pay order now ("I paid"), by core NATS request and
// reply: an answer is only worth having within seconds, so nothing is
// stored (it is outside EVENTS' payments.>), and a check nobody answers is
// one the poll makes anyway. The watchers' replicas share it as a queue
// group, so one of them answers.
const SubjectPaymentCheck = "paycheck.cryptopay"

// PaymentCheckQueue is the queue group of the watchers answering checks.
const PaymentCheckQueue = "payment-watcher"

// Outcomes of a payment check, as PaymentCheckReply.Status gives them: the
// order's status once checked, as shop's invoice statuses.
const (
	CheckPaid    = "paid"
	CheckPending = "pending"
	CheckExpired = "expired"
)

// PaymentCheckReply is the watcher's answer to a check.
type PaymentCheckReply struct {
	Status string `json:"status,omitempty"`
	// Error is why the check could not be made (Crypto Pay or the database
	// down); the poll checks the order again later.
	Error string `json:"error,omitempty"`
}

// ErrCheckFailed wraps the watcher's Error.
var ErrCheckFailed = errors.New("payment check failed")

// CheckPayment asks a payment-watcher to check the Crypto Pay order
// invoiceID now, and returns its status once checked. With no watcher
// answering before ctx ends it is nats.ErrNoResponders or a timeout.
func CheckPayment(ctx context.Context, nc *nats.Conn, invoiceID int64) (string, error) {
	msg, err := nc.RequestWithContext(ctx, SubjectPaymentCheck, []byte(strconv.FormatInt(invoiceID, 10)))
	if err != nil {
		return "", fmt.Errorf("asking the payment-watcher to check invoice %d: %w", invoiceID, err)
	}
	var r PaymentCheckReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return "", fmt.Errorf("reading the payment-watcher's check of invoice %d: %w", invoiceID, err)
	}
	if r.Error != "" {
		return "", fmt.Errorf("invoice %d: %w: %s", invoiceID, ErrCheckFailed, r.Error)
	}
	return r.Status, nil
}

// ParsePaymentCheck reads the invoice id of a check request.
func ParsePaymentCheck(data []byte) (int64, error) {
	id, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("payment check %q names no invoice", data)
	}
	return id, nil
}
