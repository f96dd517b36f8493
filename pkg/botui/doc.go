// Package botui is the bot's chat interface as both of its ends draw it: the
// bot-handler, which answers a user with screens, and the workers, whose
// messages (pkg/notify) reach the user through the sender. A user sees one
// bot, so what the two ends show alike is defined here once:
//
//   - the callback data of inline buttons (callback.go). It is a wire: a
//     worker writes it under its message, and the bot-handler reads it when
//     the user presses the button, maybe a release later. Both ends build it
//     with Callback (NoticeCallback under a worker's message, whose screen
//     then comes as a new message, so the notice stays) and the Action
//     constants, and the bot-handler reads it with ParseCallback, so a button
//     under a worker's message opens the same screen as the bot's own button
//     does. Telegram takes at most MaxCallbackData bytes of it;
//   - the languages, and the one rule that chooses one from a Telegram
//     language_code or a stored users.language (Language, Pick), with how each
//     counts ("1 day", "21 день": EnglishNoun, RussianNoun);
//   - the words both ends show (Texts): the buttons that open the user's
//     subscription, the menu and the plans, the payment receipt, the key ready
//     to copy and the location it is for, and dates ("2 Jan 2027 15:04 UTC",
//     always UTC, the month in the user's language);
//   - which of the fleet's locations a user is offered (Offered), which
//     decides whether a key names its location;
//   - Escape, for values put into Telegram's HTML.
//
// What only one end says stays with it: the screens in the bot-handler, the
// notices in pkg/notify. The golden files of both pin the bytes a user reads.
package botui
