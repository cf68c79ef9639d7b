package report

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/promptgate/promptgate/evaluator"
)

// JSON renders the report for machines (`promptgate gate --format json`):
// indented, in the field order of the evaluator's types, map keys sorted,
// and every list present as [] rather than null, so consumers can iterate
// without a nil check. The report passed in is not modified.
func JSON(r *evaluator.Report) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("report json: nil report")
	}
	// A round trip through JSON is a deep copy that keeps exactly what
	// encodes, so the caller's report stays untouched.
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("report json: %w", err)
	}
	var c evaluator.Report
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("report json: copy: %w", err)
	}
	emptySlices(reflect.ValueOf(&c).Elem())
	out, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report json: %w", err)
	}
	return append(out, '\n'), nil
}

// emptySlices replaces nil slices reachable from v with empty ones. It walks
// types generically so fields added to the report later get the same
// treatment. Empty slices still vanish under omitempty, as nil ones do.
func emptySlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			emptySlices(v.Elem())
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if t.Field(i).IsExported() {
				emptySlices(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			if v.CanSet() && v.Type().Elem().Kind() != reflect.Uint8 {
				v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			}
			return
		}
		for i := range v.Len() {
			emptySlices(v.Index(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			emptySlices(v.Index(i))
		}
	case reflect.Map:
		// Map values are not addressable: fix a copy and store it back.
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(iter.Value().Type()).Elem()
			e.Set(iter.Value())
			emptySlices(e)
			v.SetMapIndex(iter.Key(), e)
		}
	}
}
