// The two packages that wit-bindgen's Go bindings import, written for
// Tessera's plugins. The upstream module of this path is only on the Go
// module proxy, which the machines that build Tessera cannot reach; build.sh
// points the generated go.mod here with a `replace` directive.
module go.bytecodealliance.org/pkg

go 1.25
