// Package types holds the generic WIT `option` and `result` types that
// wit-bindgen's Go bindings use in their signatures.
package types

// Option is a WIT `option<T>`.
type Option[T any] struct {
	some  bool
	value T
}

// Some is an option that holds value.
func Some[T any](value T) Option[T] { return Option[T]{some: true, value: value} }

// None is an empty option.
func None[T any]() Option[T] { return Option[T]{} }

// IsSome is true when the option holds a value.
func (o Option[T]) IsSome() bool { return o.some }

// IsNone is true when the option is empty.
func (o Option[T]) IsNone() bool { return !o.some }

// Some returns the value; it panics (a trap) on an empty option.
func (o Option[T]) Some() T {
	if !o.some {
		panic("option is none")
	}
	return o.value
}

// SomeOr returns the value, or fallback when the option is empty.
func (o Option[T]) SomeOr(fallback T) T {
	if o.some {
		return o.value
	}
	return fallback
}

// The tags of a Result.
const (
	ResultOk  uint8 = 0
	ResultErr uint8 = 1
)

// Result is a WIT `result<T, E>`.
type Result[T any, E any] struct {
	tag uint8
	ok  T
	err E
}

// Ok is a successful result.
func Ok[T any, E any](value T) Result[T, E] { return Result[T, E]{tag: ResultOk, ok: value} }

// Err is a failed result.
func Err[T any, E any](err E) Result[T, E] { return Result[T, E]{tag: ResultErr, err: err} }

// Tag is ResultOk or ResultErr.
func (r Result[T, E]) Tag() uint8 { return r.tag }

// IsOk is true for a successful result.
func (r Result[T, E]) IsOk() bool { return r.tag == ResultOk }

// IsErr is true for a failed result.
func (r Result[T, E]) IsErr() bool { return r.tag == ResultErr }

// Ok returns the value; it panics (a trap) on a failed result.
func (r Result[T, E]) Ok() T {
	if r.tag != ResultOk {
		panic("result is err")
	}
	return r.ok
}

// Err returns the error; it panics (a trap) on a successful result.
func (r Result[T, E]) Err() E {
	if r.tag != ResultErr {
		panic("result is ok")
	}
	return r.err
}
