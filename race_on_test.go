//go:build race

package eventattach

// raceEnabled: the race detector instruments every memory access, so heap
// figures mean nothing under it and large copies take minutes.
const raceEnabled = true
