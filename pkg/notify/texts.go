package notify

// keyTexts is what the key message says in one language, HTML, around the
// words it shares with the bot's screens (botui.Texts: the key ready to copy,
// the date).
type keyTexts struct {
	keyReady    string // takes the expiry
	hintOutline string
	hintV2Ray   string
}

var (
	keyEN = keyTexts{
		keyReady: "🔑 Your VPN key is ready. Your subscription runs until %s.",
		hintOutline: "Install Outline (getoutline.org), tap +, paste the key and connect, " +
			"or scan this QR code in the app.",
		hintV2Ray: "Install Hiddify (or v2rayNG, Streisand), add the subscription link " +
			"from the clipboard or scan this QR code, and connect.",
	}
	keyRU = keyTexts{
		keyReady: "🔑 Ваш ключ VPN готов. Подписка действует до %s.",
		hintOutline: "Установите Outline (getoutline.org), нажмите +, вставьте ключ и подключитесь " +
			"или отсканируйте этот QR-код в приложении.",
		hintV2Ray: "Установите Hiddify (или v2rayNG, Streisand), добавьте ссылку подписки " +
			"из буфера обмена или отсканируйте этот QR-код и подключитесь.",
	}
)
