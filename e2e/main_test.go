// Package e2e holds spread's end-to-end tests: each builds the real binary
// (internal/spreadtest), starts it on loopback, and drives it with real
// signals, real HTTP load and the real CLI. They need nothing from package
// main; the unit tests of the CLI's own code stay beside it.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMain runs the tests from the repository's root, where the paths
// they name (testdata/, examples/, scripts/) are.
func TestMain(m *testing.M) {
	if err := chdirToModuleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// chdirToModuleRoot walks up from the test's directory to the one that
// holds go.mod.
func chdirToModuleRoot() error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return os.Chdir(dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return fmt.Errorf("no go.mod above the test's directory")
		}
		dir = parent
	}
}
