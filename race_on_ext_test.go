//go:build race

package eventattach_test

// raceEnabled, for the external tests: see race_on_test.go.
const raceEnabled = true
