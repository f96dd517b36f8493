package telegram

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// Files under Config.StateDir.
const (
	// stateFile is the snapshot of the chats, users and pending updates,
	// written behind the changes.
	stateFile = "state.json"
	// reservedFile holds the ids reserved ahead of those handed out. It
	// exists while the server runs and is removed by Close after the last
	// snapshot: found at Start, it says the last run was killed, and ids go
	// on past it.
	reservedFile = "reserved-ids.json"
	// reserveAhead is how many ids one reservation covers: the reservation
	// is written once every this many update or message ids.
	reserveAhead = 1000
	// defaultSaveInterval is Config.SaveInterval's default.
	defaultSaveInterval = time.Second
)

// savedState is what the server keeps across restarts. Not kept: the
// webhook (the gateway sets it at start), commands (the bot sets them at
// start), callback answers and pre-checkout queries (short-lived), files
// of deleted messages, faults, limits and counters.
type savedState struct {
	LastUpdateID int64 `json:"last_update_id"`
	// MessageFloor is the id every new chat's messages start after: above
	// any id a chat lost to a kill may have handed out.
	MessageFloor int64               `json:"message_floor,omitempty"`
	Users        []User              `json:"users,omitempty"`
	Blocked      []int64             `json:"blocked,omitempty"`
	Chats        map[int64]savedChat `json:"chats"`
	NextFile     int64               `json:"next_file,omitempty"`
	// Payments maps charge ids to their successful_payment messages.
	Payments map[string]messageRef `json:"payments,omitempty"`
	Pending  []savedUpdate         `json:"pending_updates,omitempty"`
	// Channels are the channels getChatMember looks into, by channelKey.
	Channels map[string]savedChannel `json:"channels,omitempty"`
}

type savedChannel struct {
	Members map[int64]ChatMember `json:"members"`
	Hidden  bool                 `json:"hidden,omitempty"`
}

type savedChat struct {
	LastID   int64          `json:"last_id"`
	Messages []savedMessage `json:"messages"`
}

type savedMessage struct {
	Message
	FromBot    bool                  `json:"from_bot,omitempty"`
	Entities   []apiEntity           `json:"entities,omitempty"`
	PhotoSizes []apiPhotoSize        `json:"photo_sizes,omitempty"`
	Markup     *apiMarkup            `json:"markup,omitempty"`
	EditDate   time.Time             `json:"edit_date,omitzero"`
	StartParam string                `json:"start_param,omitempty"`
	Payment    *apiSuccessfulPayment `json:"payment,omitempty"`
	UpdateID   int64                 `json:"update_id,omitempty"`
}

type messageRef struct {
	ChatID    int64 `json:"chat_id"`
	MessageID int64 `json:"message_id"`
}

// savedUpdate is an update not yet delivered; its body is kept as a string,
// the very bytes to deliver.
type savedUpdate struct {
	ID     int64  `json:"id"`
	ChatID int64  `json:"chat_id"`
	Body   string `json:"body"`
}

// reservation is the ids reserved: none above them was handed out.
type reservation struct {
	UpdateID  int64 `json:"update_id"`
	MessageID int64 `json:"message_id"`
}

func (s *Server) statePath(name string) string { return filepath.Join(s.cfg.StateDir, name) }

// restore loads Config.StateDir's snapshot, moves the ids past a
// reservation a killed run left, and starts saving.
func (s *Server) restore() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	var st savedState
	found, err := statefile.Read(s.statePath(stateFile), &st)
	if err != nil {
		return fmt.Errorf("restoring the telegram sandbox: %w", err)
	}
	var left reservation
	killed, err := statefile.Read(s.statePath(reservedFile), &left)
	if err != nil {
		return fmt.Errorf("restoring the telegram sandbox: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if found {
		s.applyLocked(st)
	}
	if killed {
		// The snapshot may be older than the last ids handed out, which
		// the reservation covers: go on past it, in every chat.
		s.updates.lastID = max(s.updates.lastID, left.UpdateID)
		s.messageFloor = max(s.messageFloor, left.MessageID)
		s.maxMessageID = max(s.maxMessageID, s.messageFloor)
		for _, c := range s.chats {
			c.lastID = max(c.lastID, s.messageFloor)
		}
		s.log.Warn().Int64("next_update_id", s.updates.lastID+1).Int64("next_message_id", s.messageFloor+1).
			Msg("the last run was not stopped cleanly: ids go on past its reservation, and its last changes may be lost")
	}
	s.log.Info().Int("chats", len(s.chats)).Int("pending_updates", len(s.updates.pending)).
		Str("dir", s.cfg.StateDir).Msg("chats restored")
	s.saver = statefile.NewSaver(s.statePath(stateFile), s.cfg.SaveInterval, s.snapshot, s.log)
	s.reserveLocked()
	return nil
}

// applyLocked puts a snapshot in place of the (empty) state.
func (s *Server) applyLocked(st savedState) {
	s.updates.lastID = max(s.updates.lastID, st.LastUpdateID)
	s.messageFloor = st.MessageFloor
	s.maxMessageID = st.MessageFloor
	for _, u := range st.Users {
		s.users[u.ID] = u
	}
	for _, id := range st.Blocked {
		s.blocked[id] = true
	}
	for id, sc := range st.Chats {
		c := &chat{lastID: sc.LastID}
		for _, sm := range sc.Messages {
			m := &storedMessage{
				Message: sm.Message, fromBot: sm.FromBot, entities: sm.Entities, photo: sm.PhotoSizes,
				markup: sm.Markup, editDate: sm.EditDate, startParam: sm.StartParam, payment: sm.Payment,
				updateID: sm.UpdateID,
			}
			m.ChatID = id
			c.messages = append(c.messages, m)
			// A photo can be sent again by its file ids.
			for _, size := range m.photo {
				s.files[size.FileID] = m.Photo
			}
		}
		s.chats[id] = c
		s.maxMessageID = max(s.maxMessageID, c.lastID)
	}
	s.nextFile = st.NextFile
	for charge, ref := range st.Payments {
		if c, ok := s.chats[ref.ChatID]; ok {
			if m := c.find(ref.MessageID); m != nil {
				s.payments[charge] = m
			}
		}
	}
	for key, sc := range st.Channels {
		c := s.channelLocked(key)
		c.hidden = sc.Hidden
		for id, m := range sc.Members {
			c.members[id] = m
		}
	}
	for _, u := range st.Pending {
		s.updates.lastSeq++
		s.updates.pending = append(s.updates.pending,
			&pendingUpdate{seq: s.updates.lastSeq, id: u.ID, chatID: u.ChatID, body: json.RawMessage(u.Body)})
	}
}

// snapshot is the state as the Saver writes it.
func (s *Server) snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := savedState{
		LastUpdateID: s.updates.lastID,
		MessageFloor: s.messageFloor,
		Chats:        make(map[int64]savedChat, len(s.chats)),
		NextFile:     s.nextFile,
		Payments:     make(map[string]messageRef, len(s.payments)),
	}
	for _, u := range s.users {
		st.Users = append(st.Users, u)
	}
	slices.SortFunc(st.Users, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
	for id := range s.blocked {
		st.Blocked = append(st.Blocked, id)
	}
	slices.Sort(st.Blocked)
	for id, c := range s.chats {
		sc := savedChat{LastID: c.lastID, Messages: make([]savedMessage, len(c.messages))}
		for i, m := range c.messages {
			sc.Messages[i] = savedMessage{
				Message: m.Message, FromBot: m.fromBot, Entities: m.entities, PhotoSizes: m.photo,
				Markup: m.markup, EditDate: m.editDate, StartParam: m.startParam, Payment: m.payment,
				UpdateID: m.updateID,
			}
		}
		st.Chats[id] = sc
	}
	for charge, m := range s.payments {
		st.Payments[charge] = messageRef{ChatID: m.ChatID, MessageID: m.ID}
	}
	for key, c := range s.channels {
		if st.Channels == nil {
			st.Channels = make(map[string]savedChannel, len(s.channels))
		}
		st.Channels[key] = savedChannel{Members: maps.Clone(c.members), Hidden: c.hidden}
	}
	for _, u := range s.updates.pending {
		st.Pending = append(st.Pending, savedUpdate{ID: u.id, ChatID: u.chatID, Body: string(u.body)})
	}
	return json.MarshalIndent(st, "", "  ")
}

// changedLocked has the change saved within Config.SaveInterval.
func (s *Server) changedLocked() {
	if s.saver != nil {
		s.saver.Changed()
	}
}

// reserveLocked writes a new reservation when the ids handed out reach the
// one on disk, before any of them leaves the lock: whatever ends the
// process, a later run does not hand them out again.
func (s *Server) reserveLocked() {
	if s.saver == nil || (s.updates.lastID < s.reserved.UpdateID && s.maxMessageID < s.reserved.MessageID) {
		return
	}
	r := reservation{UpdateID: s.updates.lastID + reserveAhead, MessageID: s.maxMessageID + reserveAhead}
	if err := statefile.Write(s.statePath(reservedFile), r); err != nil {
		s.log.Error().Err(err).Msg("reserving ids failed: a kill now may lead a later run to hand some out again")
		return
	}
	s.reserved = r
}

// closeState writes the last snapshot and, once it is on disk, removes the
// reservation: the next run goes on from the snapshot's exact ids.
func (s *Server) closeState() {
	if s.saver == nil {
		return
	}
	if err := s.saver.Close(); err != nil {
		s.log.Error().Err(err).Msg("saving the chats at close failed; the next run goes on past the reserved ids")
		return
	}
	if err := os.Remove(s.statePath(reservedFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Error().Err(err).Msg("removing the id reservation")
	}
}
