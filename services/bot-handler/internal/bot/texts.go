package bot

import (
	"fmt"
	"strings"
)

// Languages the bot speaks; they are the values of users.language.
const (
	English = "en"
	Russian = "ru"
)

// LanguageFor picks the bot language for a Telegram language_code: Russian
// for any "ru" variant, English otherwise.
func LanguageFor(languageCode string) string {
	if strings.HasPrefix(strings.ToLower(languageCode), "ru") {
		return Russian
	}
	return English
}

// texts is everything the bot says, in one language.
type texts struct {
	welcome  string // takes the user's first name
	stranger string // stands in for a missing first name
	help     string
	fallback string
}

// textsIn returns the texts of lang, English for a language the bot does not speak.
func textsIn(lang string) texts {
	if lang == Russian {
		return texts{
			welcome: "Привет, %s! Я продаю быстрый и надёжный VPN: бесплатный пробный период, " +
				"оплата криптовалютой или звёздами Telegram, ключ приходит сразу.\n\n" +
				"Что я умею — /help",
			stranger: "друг",
			help: "Команды:\n" +
				"/start — начать сначала\n" +
				"/help — эта справка",
			fallback: "Я понимаю только команды. Список — /help",
		}
	}
	return texts{
		welcome: "Hi, %s! I sell fast, reliable VPN access: a free trial, " +
			"payment in crypto or Telegram Stars, and your key right away.\n\n" +
			"See what I can do: /help",
		stranger: "there",
		help: "Commands:\n" +
			"/start — start over\n" +
			"/help — this help",
		fallback: "I only understand commands. See /help",
	}
}

// welcomeFor greets a user by first name after /start.
func (t texts) welcomeFor(firstName string) string {
	if firstName == "" {
		firstName = t.stranger
	}
	return fmt.Sprintf(t.welcome, firstName)
}
