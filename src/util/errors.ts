// Errors the user caused or can fix. The CLI prints `ebpf-otel: <message>` on one line and exits
// with `exitCode`; anything else is a bug and also gets one line (the stack only with --verbose).
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** An Error thrown by the native addon carries the errno of the failing libbpf/syscall. */
export interface ErrnoError extends Error {
  errno?: number;
  code?: string;
}

export function errnoOf(err: unknown): number | undefined {
  return err instanceof Error ? (err as ErrnoError).errno : undefined;
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}
