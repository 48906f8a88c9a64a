package eventattach

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DirStore is a Store in a directory, for processes on one host: no server,
// correct across processes and restarts. Each key is three files named by
// the key's sha256 (so no key can reach outside the directory): the lease
// (its holder and end), the record, and a lock file. Every read-modify-write
// runs under an exclusive flock of the lock file, which the kernel drops if
// the process dies; a dead holder's lease ends by time. Records are written
// to a temporary file, fsynced, renamed into place, and the directory
// fsynced: once Save returns, the record survives a crash of the host.
//
// Times are this host's clock. A DirStore on a network file system is not
// supported (flock there is not reliable); use a Store for many hosts.
type DirStore struct {
	dir string
}

// NewDirStore returns a Store in dir, created (0700) if missing. It returns
// an error where the directory cannot be made, or on a system without
// flock (Windows).
func NewDirStore(dir string) (*DirStore, error) {
	if !flockSupported {
		return nil, errors.New("eventattach: the directory store needs flock, which this system lacks")
	}
	if dir == "" {
		return nil, invalidInput("the directory store needs a directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("eventattach: directory store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("eventattach: directory store %s: %w", abs, err)
	}
	return &DirStore{dir: abs}, nil
}

// String is "directory store " and the directory.
func (s *DirStore) String() string { return "directory store " + s.dir }

// dirLeaseFile is a lease as it is on disk.
type dirLeaseFile struct {
	Holder  string `json:"holder"`
	Expires int64  `json:"expires"` // UnixNano
}

func (s *DirStore) paths(key string) (base string) {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:]))
}

// locked runs fn with key's lock file held.
func (s *DirStore) locked(ctx context.Context, key string, fn func(base string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	base := s.paths(key)
	f, err := os.OpenFile(base+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := flock(f); err != nil {
		return err
	}
	defer funlock(f)
	return fn(base)
}

func readLease(base string) (dirLeaseFile, error) {
	var l dirLeaseFile
	b, err := os.ReadFile(base + ".lease")
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		// A lease torn by a crash mid-write holds nobody.
		return dirLeaseFile{}, nil
	}
	return l, nil
}

// Acquire takes key's lease for ttl; while another holder's lease runs it
// returns ErrLeaseHeld.
func (s *DirStore) Acquire(ctx context.Context, key string, ttl time.Duration) (Lease, error) {
	var token [16]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, err
	}
	l := &dirLease{s: s, key: key, holder: hex.EncodeToString(token[:]), ttl: ttl}
	err := s.locked(ctx, key, func(base string) error {
		cur, err := readLease(base)
		if err != nil {
			return err
		}
		if cur.Holder != "" && time.Now().UnixNano() < cur.Expires {
			return fmt.Errorf("%w (until %s)", ErrLeaseHeld, time.Unix(0, cur.Expires).Format(time.RFC3339Nano))
		}
		return l.write(base)
	})
	if err != nil {
		return nil, s.wrap("acquiring the lease", key, err)
	}
	return l, nil
}

// Load returns key's record, or ErrNoRecord.
func (s *DirStore) Load(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.paths(key) + ".rec")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoRecord
	}
	if err != nil {
		return nil, s.wrap("reading the record", key, err)
	}
	return b, nil
}

// Break ends key's lease at once, as an operator would: its holder's next
// Renew or Save fails with ErrLeaseLost.
func (s *DirStore) Break(ctx context.Context, key string) error {
	err := s.locked(ctx, key, func(base string) error {
		if err := os.Remove(base + ".lease"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	return s.wrap("breaking the lease", key, err)
}

func (s *DirStore) wrap(op, key string, err error) error {
	if err == nil || errors.Is(err, ErrLeaseHeld) || errors.Is(err, ErrLeaseLost) {
		return err
	}
	return fmt.Errorf("%s: %s (key sha256 %.12s…): %w", s, op, filepath.Base(s.paths(key)), err)
}

// dirLease is a lease held in a DirStore.
type dirLease struct {
	s      *DirStore
	key    string
	holder string
	ttl    time.Duration
}

// write makes this holder's lease end ttl from now (under the lock).
func (l *dirLease) write(base string) error {
	b, _ := json.Marshal(dirLeaseFile{Holder: l.holder, Expires: time.Now().Add(l.ttl).UnixNano()})
	return writeDurably(base+".lease", b)
}

// held checks, under the lock, that the lease is this holder's and still
// runs.
func (l *dirLease) held(base string) error {
	cur, err := readLease(base)
	if err != nil {
		return err
	}
	if cur.Holder != l.holder || time.Now().UnixNano() >= cur.Expires {
		return ErrLeaseLost
	}
	return nil
}

// Renew extends the lease to ttl from now; ErrLeaseLost once it has ended
// or was broken.
func (l *dirLease) Renew(ctx context.Context) error {
	err := l.s.locked(ctx, l.key, func(base string) error {
		if err := l.held(base); err != nil {
			return err
		}
		return l.write(base)
	})
	return l.s.wrap("renewing the lease", l.key, err)
}

// Save replaces the record durably while the lease runs; otherwise it
// writes nothing and returns ErrLeaseLost.
func (l *dirLease) Save(ctx context.Context, record []byte) error {
	err := l.s.locked(ctx, l.key, func(base string) error {
		if err := l.held(base); err != nil {
			return err
		}
		return writeDurably(base+".rec", record)
	})
	return l.s.wrap("saving the record", l.key, err)
}

// Release ends the lease if this holder still has it.
func (l *dirLease) Release(ctx context.Context) error {
	err := l.s.locked(ctx, l.key, func(base string) error {
		cur, err := readLease(base)
		if err != nil || cur.Holder != l.holder {
			return err
		}
		return os.Remove(base + ".lease")
	})
	return l.s.wrap("releasing the lease", l.key, err)
}

// writeDurably replaces name with b: a temporary file, fsynced, renamed
// over name, and the directory fsynced so the rename survives a crash.
func writeDurably(name string, b []byte) error {
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is there
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
