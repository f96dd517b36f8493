package telegram

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"net/http"
	"time"
)

// SendPhoto makes the user send a photo, with an optional caption, in their
// private chat with the bot (an admin giving a broadcast its picture), and
// returns the update's update_id and the file_id of the photo's largest
// size, which sendPhoto then accepts as its photo, as Telegram's does. It
// fails when photo is not an image Telegram would take.
func (s *Server) SendPhoto(userID int64, photo []byte, caption string) (updateID int64, fileID string, err error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(photo))
	if err != nil {
		return 0, "", fmt.Errorf("decoding the user's photo: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &storedMessage{
		Message: Message{ChatID: userID, Text: caption, Plain: caption, Photo: photo, Date: time.Now()},
		photo:   s.photoSizesLocked(photo, "", cfg.Width, cfg.Height),
	}
	s.addLocked(m)
	id := s.nextUpdateIDLocked()
	m.updateID = id
	body, err := json.Marshal(apiUpdate{UpdateID: id, Message: s.apiMessageLocked(m, true)})
	if err != nil {
		return 0, "", fmt.Errorf("encoding the photo's update: %w", err)
	}
	s.pushLocked(userID, id, "message", body)
	return id, m.photo[len(m.photo)-1].FileID, nil
}

// apiSendPhoto is SendPhoto over the control API: the body is
// {"photo": <base64 image>, "caption": "..."}.
func (s *Server) apiSendPhoto(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		apiFail(w, err)
		return
	}
	var body struct {
		Photo   []byte `json:"photo"`
		Caption string `json:"caption"`
	}
	if err := decodeBody(r, &body); err != nil {
		apiFail(w, err)
		return
	}
	updateID, fileID, err := s.SendPhoto(id, body.Photo, body.Caption)
	if err != nil {
		apiFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"update_id": updateID, "file_id": fileID})
}
