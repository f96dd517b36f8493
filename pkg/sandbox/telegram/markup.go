package telegram

import (
	"errors"
	"fmt"
	"html"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// htmlEntityTypes maps the tags Telegram's HTML parse mode supports to the
// entity each produces.
var htmlEntityTypes = map[string]string{
	"b": "bold", "strong": "bold",
	"i": "italic", "em": "italic",
	"u": "underline", "ins": "underline",
	"s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
	"tg-spoiler": "spoiler", "span": "spoiler",
	"a":          "text_link",
	"code":       "code",
	"pre":        "pre",
	"blockquote": "blockquote",
	"tg-emoji":   "custom_emoji",
}

// Entity is a formatted span of a message's text, as Telegram's
// MessageEntity: its Type ("bold", "code", "text_link" with its URL, ...),
// and its Offset and Length in UTF-16 code units of the text the user reads.
type Entity = apiEntity

// Render returns what the user reads of text sent with parseMode and the
// entities that format it, exactly as the sandbox renders a message the bot
// sends, so that a page drawing a stored Message's Text agrees with what the
// bot was told. It fails, with Telegram's description, on markup Telegram
// refuses.
func Render(text, parseMode string) (string, []Entity, error) {
	plain, entities, e := renderText(text, parseMode)
	if e != nil {
		return "", nil, errors.New(e.desc)
	}
	return plain, entities, nil
}

// renderText turns text sent with parse_mode into what the user reads and its
// entities, failing like Telegram on markup it cannot parse. Only HTML is
// parsed; Markdown modes are accepted and passed through unchanged.
func renderText(text, parseMode string) (string, []apiEntity, *apiError) {
	switch strings.ToLower(parseMode) {
	case "":
		return text, nil, nil
	case "html":
		return parseHTML(text)
	case "markdown", "markdownv2":
		return text, nil, nil
	default:
		return "", nil, badRequest("unsupported parse_mode")
	}
}

type openTag struct {
	name   string
	entity apiEntity
}

func parseHTML(text string) (string, []apiEntity, *apiError) {
	var (
		out      strings.Builder
		offset   int // in UTF-16 code units, as Telegram counts entity offsets
		stack    []openTag
		entities []apiEntity
	)
	fail := func(format string, args ...any) (string, []apiEntity, *apiError) {
		return "", nil, badRequest("can't parse entities: " + fmt.Sprintf(format, args...))
	}
	write := func(s string) {
		out.WriteString(s)
		for _, r := range s {
			offset += utf16.RuneLen(r)
		}
	}
	for i := 0; i < len(text); {
		switch text[i] {
		case '<':
			end := strings.IndexByte(text[i:], '>')
			if end < 0 {
				return fail("Can't find end of the tag starting at byte offset %d", i)
			}
			tag := text[i+1 : i+end]
			if closing, ok := strings.CutPrefix(tag, "/"); ok {
				name := strings.ToLower(strings.TrimSpace(closing))
				if len(stack) == 0 {
					return fail("Unexpected end tag at byte offset %d", i)
				}
				top := stack[len(stack)-1]
				if name != top.name {
					return fail("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", i, top.name, name)
				}
				stack = stack[:len(stack)-1]
				top.entity.Length = offset - top.entity.Offset
				if top.entity.Length > 0 {
					entities = append(entities, top.entity)
				}
			} else {
				name, attrs, _ := strings.Cut(tag, " ")
				name = strings.ToLower(name)
				kind, ok := htmlEntityTypes[name]
				if !ok || (name == "span" && !strings.Contains(attrs, "tg-spoiler")) {
					return fail("Unsupported start tag \"%s\" at byte offset %d", name, i)
				}
				e := apiEntity{Type: kind, Offset: offset}
				if name == "a" {
					e.URL = htmlAttr(attrs, "href")
				}
				stack = append(stack, openTag{name: name, entity: e})
			}
			i += end + 1
		case '&':
			semi := strings.IndexByte(text[i:], ';')
			if semi > 0 && semi <= 10 {
				if decoded := html.UnescapeString(text[i : i+semi+1]); decoded != text[i:i+semi+1] {
					write(decoded)
					i += semi + 1
					continue
				}
			}
			write("&") // Telegram keeps a lone '&' as it is
			i++
		default:
			_, size := utf8.DecodeRuneInString(text[i:])
			write(text[i : i+size])
			i += size
		}
	}
	if len(stack) > 0 {
		return fail("Can't find end tag corresponding to start tag \"%s\"", stack[len(stack)-1].name)
	}
	sort.SliceStable(entities, func(a, b int) bool {
		if entities[a].Offset != entities[b].Offset {
			return entities[a].Offset < entities[b].Offset
		}
		return entities[a].Length > entities[b].Length
	})
	return out.String(), entities, nil
}

// htmlAttr reads one attribute value from a tag's attribute text.
func htmlAttr(attrs, name string) string {
	_, after, ok := strings.Cut(attrs, name+"=")
	if !ok {
		return ""
	}
	if after != "" && (after[0] == '"' || after[0] == '\'') {
		if end := strings.IndexByte(after[1:], after[0]); end >= 0 {
			return html.UnescapeString(after[1 : end+1])
		}
		return ""
	}
	v, _, _ := strings.Cut(after, " ")
	return html.UnescapeString(v)
}

// utf16Len is a text's length as Telegram measures it.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
