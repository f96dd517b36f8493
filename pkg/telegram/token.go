package telegram

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrMalformedToken is returned by BotID for a token that is not
// "<bot id>:<secret>". Errors never repeat the token, which is a credential.
var ErrMalformedToken = errors.New("malformed Telegram bot token")

// BotID returns the bot's numeric id, the part of the token before ':'. It
// also checks that the rest has only the characters Telegram uses (A-Z a-z
// 0-9 _ -), so that a token is always safe to put into a URL path.
func BotID(token string) (int64, error) {
	id, secret, ok := strings.Cut(token, ":")
	if !ok || secret == "" {
		return 0, fmt.Errorf("%w: want <bot id>:<secret>", ErrMalformedToken)
	}
	for _, r := range secret {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return 0, fmt.Errorf("%w: the part after ':' may hold only A-Z a-z 0-9 _ -", ErrMalformedToken)
		}
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		// err is not wrapped: strconv errors quote their input, a piece of the token.
		return 0, fmt.Errorf("%w: the part before ':' is not a positive integer", ErrMalformedToken)
	}
	return n, nil
}
