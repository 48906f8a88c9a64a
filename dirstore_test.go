//go:build unix

package eventattach_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/storetest"
)

func newDirStore(t *testing.T) eventattach.Store {
	s, err := eventattach.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDirStoreConformance(t *testing.T) {
	storetest.Run(t, newDirStore, &storetest.Options{
		MinTTL: 200 * time.Millisecond,
		Break: func(t *testing.T, s eventattach.Store, key string) {
			if err := s.(*eventattach.DirStore).Break(context.Background(), key); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// The children of the cross-process tests are this test binary again.
const dirStoreChild = "EVENTATTACH_DIRSTORE_CHILD"

// Four processes increment one counter record under the key's lease, 100
// times each: the lease (file locks and fsynced files) excludes processes,
// not only goroutines, so no increment is lost.
func TestDirStoreCrossProcess(t *testing.T) {
	if mode := os.Getenv(dirStoreChild); mode != "" {
		dirStoreChildMain(t, mode)
		return
	}
	dir := t.TempDir()
	const procs, each = 4, 100
	var cmds []*exec.Cmd
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDirStoreCrossProcess$")
		cmd.Env = append(os.Environ(), dirStoreChild+"=count:"+dir+":"+strconv.Itoa(each))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	s, err := eventattach.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Load(context.Background(), "counter")
	if err != nil || string(b) != strconv.Itoa(procs*each) {
		t.Fatalf("counter %q, %v; want %d", b, err, procs*each)
	}
}

// A holder killed with SIGKILL releases nothing: its lease stays until its
// TTL ends, then another process takes the key.
func TestDirStoreKilledHolder(t *testing.T) {
	dir := t.TempDir()
	const ttl = time.Second
	cmd := exec.Command(os.Args[0], "-test.run=^TestDirStoreCrossProcess$")
	cmd.Env = append(os.Environ(), dirStoreChild+"=hold:"+dir+":"+ttl.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "held") {
		t.Fatalf("child: %q, %v", line, err)
	}
	heldAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	s, err := eventattach.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Acquire(context.Background(), "k", ttl)
	if !errors.Is(err, eventattach.ErrLeaseHeld) {
		t.Fatalf("Acquire right after the holder died: %v; want ErrLeaseHeld", err)
	}
	for {
		l, err := s.Acquire(context.Background(), "k", ttl)
		if err == nil {
			if held := time.Since(heldAt); held < ttl-100*time.Millisecond {
				t.Fatalf("free %s after the child took it; its TTL is %s", held, ttl)
			}
			l.Release(context.Background())
			return
		}
		if !errors.Is(err, eventattach.ErrLeaseHeld) || time.Since(heldAt) > 10*ttl {
			t.Fatalf("Acquire: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the lease's expiry is a time: poll for it
	}
}

func dirStoreChildMain(t *testing.T, mode string) {
	parts := strings.SplitN(mode, ":", 3)
	s, err := eventattach.NewDirStore(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	switch parts[0] {
	case "hold":
		ttl, _ := time.ParseDuration(parts[2])
		if _, err := s.Acquire(ctx, "k", ttl); err != nil {
			t.Fatal(err)
		}
		fmt.Println("held")
		select {} // until SIGKILL
	case "count":
		each, _ := strconv.Atoi(parts[2])
		for range each {
			var l eventattach.Lease
			for l == nil {
				l, err = s.Acquire(ctx, "counter", 10*time.Second)
				if err != nil && !errors.Is(err, eventattach.ErrLeaseHeld) {
					t.Fatal(err)
				}
			}
			n := 0
			if b, err := s.Load(ctx, "counter"); err == nil {
				n, _ = strconv.Atoi(string(b))
			} else if !errors.Is(err, eventattach.ErrNoRecord) {
				t.Fatal(err)
			}
			if err := l.Save(ctx, []byte(strconv.Itoa(n+1))); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}
