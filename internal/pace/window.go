package pace

import "time"

// windowSlices: a window keeps at most about this many entries; requests
// ending within 1/windowSlices of the window are kept as one entry, stamped
// with the latest end (so never counted shorter than they are).
const windowSlices = 1024

// window is a sliding window of amounts that ended at given times.
type window struct {
	span time.Duration
	ents []windowEntry
	head int
	sum  int64
}

type windowEntry struct {
	first, last int64 // ns since epoch: the entry's first and latest end
	n           int64
}

// prune drops what ended at least span before now.
func (w *window) prune(now int64) {
	cut := now - int64(w.span)
	for w.head < len(w.ents) && w.ents[w.head].last <= cut {
		w.sum -= w.ents[w.head].n
		w.head++
	}
	if w.head == len(w.ents) {
		w.ents, w.head = w.ents[:0], 0
	} else if w.head > 64 && w.head*2 > len(w.ents) {
		w.ents = w.ents[:copy(w.ents, w.ents[w.head:])]
		w.head = 0
	}
}

func (w *window) add(now, n int64) {
	w.sum += n
	if k := len(w.ents) - 1; k >= w.head && now-w.ents[k].first < int64(w.span)/windowSlices {
		w.ents[k].last = max(w.ents[k].last, now)
		w.ents[k].n += n
		return
	}
	w.ents = append(w.ents, windowEntry{first: now, last: now, n: n})
}

// freeAt is when at least need of the window's sum will have left it; ok
// is false when the window holds less than need.
func (w *window) freeAt(need int64) (int64, bool) {
	var freed int64
	for _, e := range w.ents[w.head:] {
		if freed += e.n; freed >= need {
			return e.last + int64(w.span), true
		}
	}
	return 0, false
}
