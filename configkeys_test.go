package main

import (
	"testing"

	"github.com/urfave/cli/v2/altsrc"
)

func TestEveryServeFlagCanComeFromTheConfigFile(t *testing.T) {
	for _, cmd := range newApp().Commands {
		if cmd.Name != "serve" {
			continue
		}
		n := 0
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			if name == "config" {
				continue
			}
			if _, ok := f.(altsrc.FlagInputSourceExtension); !ok {
				t.Errorf("serve flag --%s (%T) cannot be set from a config file: add its type to fromFile", name, f)
			}
			n++
		}
		if n < 20 {
			t.Fatalf("only %d serve flags: the command was not found whole", n)
		}
		return
	}
	t.Fatal("no serve command")
}
