// Whether to emit ANSI colors. Renderers never decide this themselves; commands call this once
// with the stream they write to and pass the answer down as `color: boolean`.
//
// Order: an explicit --color=always|never wins; then NO_COLOR (any non-empty value disables,
// https://no-color.org); then FORCE_COLOR (`0`/`false` disables, anything else enables); then
// colors only on a TTY whose TERM is not `dumb`.

export type ColorMode = 'auto' | 'always' | 'never';

export function shouldUseColor(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined> = process.env,
  mode: ColorMode = 'auto',
): boolean {
  if (mode === 'always') return true;
  if (mode === 'never') return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !(force === '0' || force.toLowerCase() === 'false');
  return stream.isTTY === true && env.TERM !== 'dumb';
}
