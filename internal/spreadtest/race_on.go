//go:build race

package spreadtest

const raceEnabled = true
