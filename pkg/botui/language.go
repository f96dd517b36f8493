package botui

import (
	"strconv"
	"strings"
)

// Languages the bot speaks; they are the values of users.language.
const (
	English = "en"
	Russian = "ru"
)

// Language chooses the language to speak to a user from a Telegram
// language_code or a stored users.language: Russian for any "ru" variant,
// English otherwise.
func Language(code string) string {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(code)), Russian) {
		return Russian
	}
	return English
}

// Pick is ru when lang is Russian (Language), en otherwise: how either end
// chooses among its texts, so that both read a language code alike.
func Pick[T any](lang string, en, ru T) T {
	if Language(lang) == Russian {
		return ru
	}
	return en
}

// Noun writes a count followed by a noun in the form the count takes in one
// language: "1 day", "5 days", "21 день", "22 дня".
type Noun func(n int) string

// EnglishNoun counts in English: one for 1, many otherwise.
func EnglishNoun(one, many string) Noun {
	return func(n int) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
}

// RussianNoun counts in Russian: one (1, 21, 101), few (2–4, 22–24) or many
// (5–20, 25–30, and 11–14 of every hundred).
func RussianNoun(one, few, many string) Noun {
	return func(n int) string {
		form := many
		switch n10, n100 := n%10, n%100; {
		case n10 == 1 && n100 != 11:
			form = one
		case n10 >= 2 && n10 <= 4 && (n100 < 12 || n100 > 14):
			form = few
		}
		return strconv.Itoa(n) + " " + form
	}
}
