// Option parsers shared by the subcommands: each turns bad input into a one-line error.
import { InvalidArgumentError } from 'commander';

export function positiveInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${what} must be a positive integer, got '${value}'`);
    const n = Number.parseInt(value, 10);
    if (n <= 0 || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${what} must be a positive integer, got '${value}'`);
    return n;
  };
}

/** Accepts `-p 1,2 -p 3`: comma-separated and repeated options accumulate. */
export function idList(what: string) {
  const one = positiveInt(what);
  return (value: string, previous: number[] | undefined): number[] => {
    const ids = value.split(',').filter((s) => s.trim() !== '').map(one);
    if (ids.length === 0) throw new InvalidArgumentError(`${what} needs at least one id`);
    return [...(previous ?? []), ...ids];
  };
}

/** A duration in seconds: `10`, `2.5`. */
export function seconds(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0)) throw new InvalidArgumentError(`${what} must be a positive number of seconds, got '${value}'`);
    return n;
  };
}
