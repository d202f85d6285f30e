#!/usr/bin/env python3
"""Makes a Go wasip1 module's monotonic clock read at least 1 ns.

    shift-monotonic-clock.py IN.wat OUT.wat   (text from `wasm-tools print`)

Tessera's host starts each instance's monotonic clock at 0 and moves it in
whole milliseconds (plugins/README.md, "The sandbox"). Go's runtime refuses
to start when its clock reads 0 ("nanotime returning zero"), which it does
whenever an instance starts within its first millisecond. This adds a
function that calls the `clock_time_get` import and adds 1 ns to a
successful monotonic reading, and points every call of the import at it.
The wall clock, and every other import, are left alone.
"""

import re
import sys

CLOCKID_MONOTONIC = 1


def main(src: str, dest: str) -> None:
    with open(src, encoding="utf-8") as f:
        text = f.read()
    imp = re.search(
        r'^  \(import "wasi_snapshot_preview1" "clock_time_get" \(func \(;(\d+);\) \(type (\d+)\)',
        text,
        re.M,
    )
    if not imp:
        sys.exit(f"{src}: no wasi_snapshot_preview1 clock_time_get import")
    clock, ty = imp.group(1), imp.group(2)
    funcs = [int(n) for n in re.findall(r"^  \((?:import \"[^\"]*\" \"[^\"]*\" \()?func \(;(\d+);\)", text, re.M)]
    shim = max(funcs) + 1
    # Only direct calls: Go never takes the import's address.
    if re.search(rf"(ref\.func|return_call) {clock}\b", text) or re.search(rf"^  \(elem .*\b{clock}\b", text, re.M):
        sys.exit(f"{src}: clock_time_get is used other than by a direct call")
    text, calls = re.subn(rf"^(\s*)call {clock}$", rf"\1call {shim}", text, flags=re.M)
    if calls == 0:
        sys.exit(f"{src}: clock_time_get is never called")
    wrapper = f"""  (func (;{shim};) (type {ty}) (param i32 i64 i32) (result i32)
    (local i32)
    local.get 0
    local.get 1
    local.get 2
    call {clock}
    local.tee 3
    i32.eqz
    local.get 0
    i32.const {CLOCKID_MONOTONIC}
    i32.eq
    i32.and
    if
      local.get 2
      local.get 2
      i64.load
      i64.const 1
      i64.add
      i64.store
    end
    local.get 3
  )
"""
    end = text.rstrip().rfind(")")
    text = text[:end] + wrapper + text[end:]
    with open(dest, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
