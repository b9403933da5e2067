package supervisor

import (
	"encoding/json"
	"fmt"
)

// StatusClasses counts answered requests by status class: [0] is 1xx …
// [4] is 5xx.
type StatusClasses [5]uint64

// MarshalJSON writes the classes as an object labelled as the metrics'
// class label is, so that a
// reader of `spread status --json` need not know the order.
func (c StatusClasses) MarshalJSON() ([]byte, error) {
	m := make(map[string]uint64, len(c))
	for i, n := range c {
		m[statusClasses[i]] = n
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes; an unknown label is an
// error, a missing one counts 0.
func (c *StatusClasses) UnmarshalJSON(b []byte) error {
	var m map[string]uint64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*c = StatusClasses{}
	for k, n := range m {
		i := classIndex(k)
		if i < 0 {
			return fmt.Errorf("unknown status class %q", k)
		}
		c[i] = n
	}
	return nil
}

func classIndex(label string) int {
	for i, name := range statusClasses {
		if name == label {
			return i
		}
	}
	return -1
}
