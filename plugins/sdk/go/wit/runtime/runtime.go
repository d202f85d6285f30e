// Package runtime is the memory side of the canonical ABI for Go on
// wasip1: the `cabi_realloc` export through which the host writes a call's
// arguments into the plugin's memory, and Allocate, with which the bindings
// lay out return values. Memory handed to the host is pinned so that the
// garbage collector neither moves nor frees it while the host reads it; the
// bindings unpin it when the call has copied it (Unpin, and after the
// result has been read, in `cabi_post_*`).
package runtime

import (
	"runtime"
	"unsafe"
)

// argsPinner pins what cabi_realloc hands out for one call's arguments.
var argsPinner runtime.Pinner

// Unpin releases the arguments of the current call: the bindings call it
// once they hold Go values (strings, slices) that keep that memory alive.
func Unpin() { argsPinner.Unpin() }

// Allocate returns size bytes aligned to align from the Go heap, pinned by
// pinner until it is unpinned.
func Allocate(pinner *runtime.Pinner, size, align uintptr) unsafe.Pointer {
	if size == 0 {
		return nil
	}
	var p unsafe.Pointer
	// Allocating a slice of words of the alignment's width gives an aligned
	// block the garbage collector knows the size of.
	switch align {
	case 1:
		p = unsafe.Pointer(unsafe.SliceData(make([]uint8, size)))
	case 2:
		p = unsafe.Pointer(unsafe.SliceData(make([]uint16, (size+1)/2)))
	case 4:
		p = unsafe.Pointer(unsafe.SliceData(make([]uint32, (size+3)/4)))
	default:
		p = unsafe.Pointer(unsafe.SliceData(make([]uint64, (size+7)/8)))
	}
	pinner.Pin(p)
	return p
}

// goReady turns true when the Go runtime has initialised this package; the
// WASI adapter may call cabi_realloc earlier, while the runtime starts.
var goReady = false

func init() { goReady = true }

// early serves cabi_realloc before the runtime is up: a static block the
// garbage collector does not manage (the runtime's own sbrk is not linkable).
// The WASI preview1 adapter takes two 64 KiB blocks from it (its state and
// its stack) on the runtime's first WASI call.
var (
	early     [192 << 10]byte
	earlyUsed uintptr
)

func earlyAllocate(size, align uintptr) unsafe.Pointer {
	base := uintptr(unsafe.Pointer(&early[0]))
	start := (base + earlyUsed + align - 1) &^ (align - 1)
	if start+size > base+uintptr(len(early)) {
		panic("cabi_realloc: out of memory before the Go runtime started")
	}
	earlyUsed = start + size - base
	return unsafe.Pointer(start)
}

// procPin and procUnpin keep the garbage collector from starting a cycle in
// between (the runtime supports linking to them, golang/go#67401). A GC
// cycle may read clocks or switch goroutines, and a component may not call
// its imports from inside cabi_realloc.
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// cabiRealloc only ever allocates: the host never grows or frees a block
// through it for this plugin world.
//
//go:wasmexport cabi_realloc
func cabiRealloc(old unsafe.Pointer, oldSize, align, newSize uintptr) unsafe.Pointer {
	if old != nil || oldSize != 0 {
		panic("cabi_realloc: reallocation is not supported")
	}
	if !goReady {
		return earlyAllocate(newSize, align)
	}
	procPin()
	p := Allocate(&argsPinner, newSize, align)
	procUnpin()
	return p
}
