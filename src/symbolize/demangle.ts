// Symbol demangling: C++ (Itanium ABI) and Rust (legacy and v0). Anything that is not a mangled
// name, or cannot be demangled, comes back unchanged; this never throws and never loops.
import { demangleItanium } from './demangle-itanium.js';
import { demangleRustLegacy, demangleRustV0 } from './demangle-rust.js';

export { demangleItanium } from './demangle-itanium.js';
export { demangleRustLegacy, demangleRustV0 } from './demangle-rust.js';

/** Demangles `name` (C++ `_Z...`, Rust `_ZN...17h<hash>E` / `_R...`); returns it unchanged otherwise. */
export function demangle(name: string): string {
  try {
    if (name.startsWith('_R')) return flat(demangleRustV0(name) ?? name);
    if (name.startsWith('_Z')) return flat(demangleRustLegacy(name) ?? demangleItanium(name) ?? name);
  } catch {
    // a bug in a demangler must not lose the frame: fall back to the raw name
  }
  return name;
}

/**
 * The demanglers build their output piece by piece, which V8 keeps as a tree of concatenations
 * (~2 KB for a 150-character C++ name, against ~0.3 KB flat). Symbolizers keep every name for
 * the whole run: reading one character makes V8 flatten the string in place.
 */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}
