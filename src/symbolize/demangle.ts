// Symbol demangling: C++ (Itanium ABI) and Rust (legacy and v0). Anything that is not a mangled
// name, or cannot be demangled, comes back unchanged; this never throws and never loops.
import { demangleItanium } from './demangle-itanium.js';
import { demangleRustLegacy, demangleRustV0 } from './demangle-rust.js';

export { demangleItanium } from './demangle-itanium.js';
export { demangleRustLegacy, demangleRustV0 } from './demangle-rust.js';

/** Demangles `name` (C++ `_Z...`, Rust `_ZN...17h<hash>E` / `_R...`); returns it unchanged otherwise. */
export function demangle(name: string): string {
  try {
    if (name.startsWith('_R')) return demangleRustV0(name) ?? name;
    if (name.startsWith('_Z')) return demangleRustLegacy(name) ?? demangleItanium(name) ?? name;
  } catch {
    // a bug in a demangler must not lose the frame: fall back to the raw name
  }
  return name;
}
