package triage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// ErrToolArguments is the result of a tool call whose arguments are
// outside the tool's declared schema: not an object, an argument the tool
// does not declare (user_id, login: the tools only ever read the alert's
// own user), a value of the wrong type or out of range. Nothing runs; the
// call is counted (clarion_triage_tool_calls_refused_total).
var ErrToolArguments = errors.New("triage: tool arguments outside the schema")

// checkToolArgs checks args (valid JSON) against the parameters toolDefs
// declares for tool name.
func checkToolArgs(name string, args []byte) error {
	var params map[string]any
	for _, d := range toolDefs() {
		if d.Function != nil && d.Function.Name == name {
			params, _ = d.Function.Parameters.(map[string]any)
		}
	}
	props, _ := params["properties"].(map[string]any)
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return fmt.Errorf("%w: the arguments must be a JSON object", ErrToolArguments)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := props[k].(map[string]any)
		if !ok {
			return fmt.Errorf("%w: %s takes no argument %q (it takes %s)", ErrToolArguments, name, clip(k, 64), declared(props))
		}
		if err := checkValue(p, m[k]); err != nil {
			return fmt.Errorf("%w: %s: %s", ErrToolArguments, k, err)
		}
	}
	return nil
}

func declared(props map[string]any) string {
	if len(props) == 0 {
		return "no arguments"
	}
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// checkValue checks one JSON value against a property schema: type
// integer (with minimum and maximum) or string. Null counts as absent.
func checkValue(p map[string]any, raw json.RawMessage) error {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	switch p["type"] {
	case "integer":
		var n json.Number
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&n); err != nil {
			return errors.New("want an integer")
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) {
			return errors.New("want an integer")
		}
		if lo, ok := p["minimum"].(int); ok && f < float64(lo) {
			return fmt.Errorf("below the minimum %d", lo)
		}
		if hi, ok := p["maximum"].(int); ok && f > float64(hi) {
			return fmt.Errorf("above the maximum %d", hi)
		}
	case "string":
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return errors.New("want a string")
		}
	case nil:
	default:
		return fmt.Errorf("unsupported schema type %v", p["type"])
	}
	return nil
}
