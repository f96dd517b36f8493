package webapp

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

// static holds the page: one HTML file, its script and its style, no
// framework, so the first load is a few kilobytes.
//
//go:embed static
var static embed.FS

// staticFiles serves the files of static/ under /static/, and no listing
// of it. They are revalidated at each load, so a new release is the page
// users get at once.
func staticFiles() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // cannot happen: static is embedded above
	}
	files := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// servePage serves the app's one page. It may hold no user's data: it is
// the same for everyone, and the API gives each user theirs.
func servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, static, "static/index.html")
}

// loginPolicy is the login page's Content-Security-Policy: Telegram's
// widget script and the frame it opens, nothing of ours runs there.
const loginPolicy = "default-src 'none'; script-src https://telegram.org; frame-src https://oauth.telegram.org; " +
	"style-src 'self'; img-src 'self' https://telegram.org; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// loginPage is the open web's sign-in: the Telegram Login Widget, which
// sends the browser back to /login/done with its signed data in the query.
var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>VPN</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<main>
<h1>VPN</h1>
<p>Sign in with your Telegram account.</p>
<script async src="https://telegram.org/js/telegram-widget.js?22" data-telegram-login="{{.Bot}}" data-size="large" data-auth-url="{{.Done}}" data-request-access="write"></script>
</main>
</body>
</html>
`))

// serveLogin serves the login page of the bot, whose widget returns to
// this host's /login/done: Telegram accepts only the domain set for the
// bot with BotFather's /setdomain, over https.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if s.cfg.BotUsername == "" {
		writeError(w, http.StatusNotFound, codeNotFound, "Sign-in on the web is not available.")
		return
	}
	w.Header().Set("Content-Security-Policy", loginPolicy)
	// The widget's frame is told this page's origin, no more.
	w.Header().Set("Referrer-Policy", "strict-origin")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	done := (&url.URL{Scheme: "https", Host: r.Host, Path: "/login/done"}).String()
	if err := loginPage.Execute(w, struct{ Bot, Done string }{s.cfg.BotUsername, done}); err != nil {
		s.log.Debug().Err(err).Msg("login page not written")
	}
}
