//go:build !race

package spreadtest

const raceEnabled = false
