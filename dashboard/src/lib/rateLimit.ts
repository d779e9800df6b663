/**
 * Runs `fn` at most once per `intervalMs`: the first call runs at once (so a new lead shows
 * without waiting), calls inside the interval collapse into one trailing run at its end.
 */
export interface RateLimited {
  (): void;
  cancel(): void;
}

export function rateLimit(fn: () => void, intervalMs: number, now = () => Date.now()): RateLimited {
  let lastRun = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const run = () => {
    timer = null;
    lastRun = now();
    fn();
  };

  const call = () => {
    if (timer !== null) return; // a trailing run is already due
    const wait = lastRun + intervalMs - now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  };
  call.cancel = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  return call;
}
