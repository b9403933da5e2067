// Command mutationtable turns the JSON reports that gremlins writes
// (gremlins unleash --output FILE), one per package, into the Markdown
// that make mutate keeps in bench/mutation.md: a table of killed / lived /
// not covered / timed out per package, then every mutant that lived or
// timed out, by position, for a reader to kill or to judge equivalent.
//
// Usage: mutationtable NAME=REPORT.json ... > bench/mutation.md
//
// A REPORT ending in .log is gremlins' console output instead, for a run
// stopped before it wrote its JSON: the mutants it judged are counted.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// report is the part of gremlins' JSON report that the table needs. Its
// totals leave out timed-out mutants, so the table counts the statuses of
// the mutations itself.
type report struct {
	Files []fileReport `json:"files"`
}

// fileReport is one source file's mutants.
type fileReport struct {
	Name      string     `json:"file_name"`
	Mutations []mutation `json:"mutations"`
}

// mutation is one mutant and its verdict.
type mutation struct {
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Type   string `json:"type"`
	Status string `json:"status"`
}

// tally is one package's row.
type tally struct {
	pkg                                            string
	killed, lived, notCovered, timedOut, notViable int
	runnable                                       int      // covered but not run: a dry run
	survivors                                      []string // "file:line:col TYPE STATUS"
}

func (t tally) total() int {
	return t.killed + t.lived + t.notCovered + t.timedOut + t.notViable + t.runnable
}

// covered is every mutant that some test of the package runs: all but the
// not-covered ones and those that do not compile.
func (t tally) covered() int { return t.killed + t.lived + t.timedOut + t.runnable }

func percent(n, of int) string {
	if of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mutationtable NAME=REPORT.json ...")
		os.Exit(2)
	}
	var rows []tally
	for _, arg := range os.Args[1:] {
		name, file, ok := strings.Cut(arg, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "mutationtable: %q is not NAME=REPORT.json\n", arg)
			os.Exit(2)
		}
		t, err := read(name, file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mutationtable: %v\n", err)
			os.Exit(1)
		}
		rows = append(rows, t)
	}
	write(os.Stdout, rows)
}

func read(name, file string) (tally, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return tally{}, err
	}
	var r report
	if strings.HasSuffix(file, ".log") {
		r = parseLog(string(b))
	} else if err := json.Unmarshal(b, &r); err != nil {
		return tally{}, fmt.Errorf("%s: %w", file, err)
	}
	t := tally{pkg: name}
	for _, f := range r.Files {
		for _, m := range f.Mutations {
			switch m.Status {
			case "KILLED":
				t.killed++
			case "LIVED":
				t.lived++
			case "NOT COVERED":
				t.notCovered++
			case "TIMED OUT":
				t.timedOut++
			case "NOT VIABLE":
				t.notViable++
			case "RUNNABLE":
				t.runnable++
			default:
				continue
			}
			if m.Status == "LIVED" || m.Status == "TIMED OUT" {
				t.survivors = append(t.survivors, fmt.Sprintf("%s:%d:%d %s %s", path.Base(f.Name), m.Line, m.Column, m.Type, m.Status))
			}
		}
	}
	sort.Strings(t.survivors)
	return t, nil
}

// parseLog reads the lines gremlins prints while it runs,
// "      KILLED CONDITIONALS_NEGATION at channel.go:45:9", into a report:
// the verdicts of a run stopped before it wrote its JSON.
func parseLog(text string) report {
	var r report
	files := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		before, pos, ok := strings.Cut(strings.TrimSpace(line), " at ")
		if !ok {
			continue
		}
		i := strings.LastIndex(before, " ")
		if i < 0 {
			continue
		}
		status, typ := before[:i], before[i+1:]
		var file string
		var ln, col int
		parts := strings.Split(pos, ":")
		if len(parts) != 3 {
			continue
		}
		file = parts[0]
		if _, err := fmt.Sscanf(parts[1]+" "+parts[2], "%d %d", &ln, &col); err != nil {
			continue
		}
		k, ok := files[file]
		if !ok {
			k = len(r.Files)
			files[file] = k
			r.Files = append(r.Files, fileReport{Name: file})
		}
		r.Files[k].Mutations = append(r.Files[k].Mutations, mutation{ln, col, typ, status})
	}
	return r
}

func write(w io.Writer, rows []tally) {
	fmt.Fprintln(w, "# Mutation testing: results")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Written by `make mutate` (scripts/mutate.sh); how to read it: docs/mutation.md.")
	fmt.Fprintln(w, "Covered = killed + lived + timed out; killed % is of the covered ones.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| package | mutants | killed | lived | not covered | timed out | not viable | covered | killed of covered |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, t := range rows {
		killed := percent(t.killed, t.covered())
		if t.runnable > 0 {
			killed = fmt.Sprintf("not run (%d runnable)", t.runnable)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %s | %s |\n", t.pkg, t.total(), t.killed, t.lived,
			t.notCovered, t.timedOut, t.notViable, percent(t.covered(), t.total()), killed)
	}
	for _, t := range rows {
		fmt.Fprintf(w, "\n## %s: lived or timed out (%d)\n\n", t.pkg, len(t.survivors))
		for _, s := range t.survivors {
			fmt.Fprintf(w, "- %s\n", s)
		}
	}
}
