//go:build !race

package eventattach_test

const raceEnabled = false
