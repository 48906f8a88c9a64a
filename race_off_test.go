//go:build !race

package eventattach

const raceEnabled = false
