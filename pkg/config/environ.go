package config

import (
	"cmp"
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Environ renders a configuration struct as the environment that Load reads
// back into it: one KEY=value for each env-tagged field, in field order, so
// that a process starting another one writes the child's settings from the
// same typed struct the child reads them with, and never retypes a name.
//
// Zero fields are left out: the child then keeps its own default, which is
// what an unset variable means to Load (and why a false bool or a 0 cannot
// be passed this way). A slice is joined with the field's envSeparator
// (default ","), a map's entries also with its envKeyValSeparator (default
// ":"), in key order, unless the list or map has MarshalText itself; a
// value is written with MarshalText when its type has it, else String (a
// time.Duration as "5s"), else as fmt prints it.
func Environ(cfg any) []string {
	var env []string
	walk(reflect.ValueOf(cfg), func(name string, f reflect.StructField, v reflect.Value) {
		if v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
			return
		}
		env = append(env, name+"="+envValue(f, v))
	})
	return env
}

// envValue renders a field's value as Load parses it.
func envValue(f reflect.StructField, v reflect.Value) string {
	// A list that marshals itself (a JSON array) is read back whole, with
	// its UnmarshalText, not item by item.
	if _, ok := reflect.New(v.Type()).Interface().(encoding.TextMarshaler); ok {
		return text(v)
	}
	sep := cmp.Or(f.Tag.Get("envSeparator"), ",")
	switch v.Kind() {
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = text(v.Index(i))
		}
		return strings.Join(parts, sep)
	case reflect.Map:
		kv := cmp.Or(f.Tag.Get("envKeyValSeparator"), ":")
		parts := make([]string, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			parts = append(parts, text(it.Key())+kv+text(it.Value()))
		}
		slices.Sort(parts)
		return strings.Join(parts, sep)
	}
	return text(v)
}

// text renders one value. Its methods are looked up on a pointer to a copy,
// so that those with pointer receivers (url.URL's String) count too.
func text(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	switch x := p.Interface().(type) {
	case encoding.TextMarshaler:
		if b, err := x.MarshalText(); err == nil {
			return string(b)
		}
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v.Interface())
}
