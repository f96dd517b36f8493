package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Read decodes the JSON file at path into v. found is false, and v left as
// it was, when there is no such file.
func Read(path string, v any) (found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("reading %s (move it away to start afresh): %w", path, err)
	}
	return true, nil
}

// Write replaces the file at path with v encoded as JSON, whole or not at
// all, creating its folder when missing.
func Write(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return WriteBytes(path, append(b, '\n'))
}

// WriteBytes replaces the file at path with data, whole or not at all,
// creating its folder when missing.
func WriteBytes(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// The rename is durable once the folder is.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Saver writes the snapshot SnapshotFunc returns to a file behind the
// changes: within Interval of Changed, and once more at Close.
type Saver struct {
	path         string
	snapshotFunc func() ([]byte, error)
	interval     time.Duration
	log          zerolog.Logger

	changed chan struct{} // capacity 1: "something changed since the last write"
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	err     error // Close's final write
}

// NewSaver starts a Saver of path. snapshotFunc returns the file's content
// as of the moment it is called; it is called from the Saver's goroutine
// and from Close, never at the same time.
func NewSaver(path string, interval time.Duration, snapshotFunc func() ([]byte, error), log zerolog.Logger) *Saver {
	s := &Saver{
		path:         path,
		snapshotFunc: snapshotFunc,
		interval:     interval,
		log:          log,
		changed:      make(chan struct{}, 1),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	go s.loop()
	return s
}

// Changed says the state changed: a write follows within the interval. It
// never blocks.
func (s *Saver) Changed() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *Saver) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.changed:
		}
		if err := s.save(); err != nil {
			// The next change tries again; Close reports its own attempt.
			s.log.Error().Err(err).Str("file", s.path).Msg("saving the state failed")
		}
		t := time.NewTimer(s.interval)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *Saver) save() error {
	b, err := s.snapshotFunc()
	if err != nil {
		return fmt.Errorf("taking the snapshot for %s: %w", s.path, err)
	}
	return WriteBytes(s.path, b)
}

// Close stops the Saver and writes the snapshot once more, whether or not
// anything changed, and reports that write. Call it once the state no
// longer changes. Closing again returns the first Close's result.
func (s *Saver) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.err = s.save()
	})
	return s.err
}
