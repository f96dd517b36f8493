package botui

import "fmt"

// BalanceTexts are the words of the balance that the bot's screens and the
// workers' messages both show, in one language, HTML.
type BalanceTexts struct {
	// BtnBalance labels the button of ActionBalance.
	BtnBalance string
	// TopUpReceived confirms a top-up applied to the balance; it takes the
	// amount and the balance after it, each written by Amount.
	TopUpReceived string
}

// BalanceTextsIn returns the balance texts of lang (Pick).
func BalanceTextsIn(lang string) *BalanceTexts { return Pick(lang, &balanceEN, &balanceRU) }

var balanceEN = BalanceTexts{
	BtnBalance:    "💰 Balance",
	TopUpReceived: "Balance topped up by %s; your balance is %s.",
}

var balanceRU = BalanceTexts{
	BtnBalance:    "💰 Баланс",
	TopUpReceived: "Баланс пополнен на %s; теперь на балансе %s.",
}

// Amount writes an amount in minor units of a currency, as the shop keeps
// them: cents of "USD" as dollars ("$12.50"), stars of "XTR" as a count
// ("300 ⭐"). A negative amount starts with a minus sign.
func Amount(currency string, amount int64) string {
	sign := ""
	if amount < 0 {
		sign, amount = "−", -amount
	}
	switch currency {
	case "USD":
		return fmt.Sprintf("%s$%d.%02d", sign, amount/100, amount%100)
	case "XTR":
		return fmt.Sprintf("%s%d ⭐", sign, amount)
	}
	return fmt.Sprintf("%s%d %s", sign, amount, currency)
}
