package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// source hands out deliveries and takes their outcomes: an HTTP queue, or
// the input's lines.
type source interface {
	// take returns the next delivery; errQueueDone when there is none left.
	take(ctx context.Context) (delivery, error)
	ack(ctx context.Context, id string, a ack) error
}

type queueSource struct{ q httpQueue }

func (s *queueSource) take(ctx context.Context) (delivery, error) { return s.q.take(ctx) }
func (s *queueSource) ack(ctx context.Context, id string, a ack) error {
	return s.q.ack(ctx, id, a)
}

// lineSource delivers each line once, in order.
type lineSource struct {
	mu      sync.Mutex
	tasks   []task
	next    int
	results []ack
}

func (s *lineSource) take(ctx context.Context) (delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return delivery{}, err
	}
	if s.next == len(s.tasks) {
		return delivery{}, errQueueDone
	}
	s.next++
	return delivery{ID: strconv.Itoa(s.next - 1), Task: s.tasks[s.next-1]}, nil
}

func (s *lineSource) ack(_ context.Context, id string, a ack) error {
	i, err := strconv.Atoi(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results[i] = a
	return nil
}

func (s *lineSource) notStarted() int { return len(s.tasks) - s.next }

func (s *lineSource) printNotStarted() {
	if s.next == len(s.tasks) {
		return
	}
	fmt.Println("not started (feed these lines in again):")
	for _, t := range s.tasks[s.next:] {
		fmt.Printf("%s,%s,%s,%s\n", t.User, t.Event, t.File, t.Key)
	}
}

// completeEvents returns an update task for each event all of whose lines
// are done, in the order the events first appear.
func (s *lineSource) completeEvents() []task {
	type ev struct{ user, event string }
	complete := map[ev]bool{}
	var order []ev
	for i, t := range s.tasks {
		k := ev{t.User, t.Event}
		if _, seen := complete[k]; !seen {
			complete[k] = true
			order = append(order, k)
		}
		if i >= s.next || !s.results[i].OK {
			complete[k] = false
		}
	}
	var updates []task
	for _, k := range order {
		if complete[k] {
			updates = append(updates, task{User: k.user, Event: k.event, Update: true})
		}
	}
	return updates
}

// readTasks reads "user,event,file[,key]" lines from path, else stdin,
// else (stdin a terminal or empty) makes up the demo input. It reports
// whether it did.
func readTasks(path string, online bool) ([]task, bool, error) {
	var r io.Reader = os.Stdin
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, false, err
		}
		defer f.Close()
		r = f
	} else if st, err := os.Stdin.Stat(); err != nil || st.Mode()&os.ModeCharDevice != 0 {
		r = nil // a terminal: nobody is piping lines in
	}
	if r != nil {
		tasks, err := parseTasks(r)
		if err != nil || len(tasks) > 0 || path != "" {
			return tasks, false, err
		}
	}
	return demoTasks(online), true, nil
}

func parseTasks(r io.Reader) ([]task, error) {
	var tasks []task
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 3 && len(f) != 4 {
			return nil, fmt.Errorf("line %d: want user,event,file[,key], got %q", n, line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		name := filepath.Base(f[2])
		if f[0] == "" || f[1] == "" || f[2] == "" || name == "." || name == "/" {
			return nil, fmt.Errorf("line %d: empty user, event or file in %q", n, line)
		}
		key := strings.Join(f[:3], ",") // the line is the task: the same line, the same attachment
		if len(f) == 4 {
			if f[3] == "" {
				return nil, fmt.Errorf("line %d: empty key in %q", n, line)
			}
			key = f[3]
		}
		tasks = append(tasks, task{Key: key, User: f[0], Event: f[1], File: f[2], Name: name})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return tasks, nil
}

// demoTasks: 5 users × 2 events × 5 files offline (5 files on GRAPH_USER's
// GRAPH_EVENT_ID against Graph), and every fifth line delivered a second
// time right after the first, as a queue whose lock expired would.
func demoTasks(online bool) []task {
	users := []string{"adele@contoso.com", "alex@contoso.com", "megan@contoso.com", "nestor@contoso.com", "patti@contoso.com"}
	events := []string{"AAMkEvtPlanning=", "AAMkEvtReview="}
	if online {
		users, events = []string{os.Getenv("GRAPH_USER")}, []string{os.Getenv("GRAPH_EVENT_ID")}
	}
	var tasks []task
	for _, u := range users {
		for _, e := range events {
			for f := 1; f <= 5; f++ {
				name := fmt.Sprintf("worker-demo-%d.txt", f)
				t := task{Key: "demo/" + u + "/" + e + "/" + name, User: u, Event: e, Name: name}
				tasks = append(tasks, t)
				if f == 5 {
					tasks = append(tasks, t)
				}
			}
		}
	}
	fmt.Printf("no input on stdin: using a demo input of %d lines (%d of them a second delivery)\n", len(tasks), len(tasks)/6)
	return tasks
}
