// The alert sound: a short two-note chime made with Web Audio, so there is no file to load.
// Browsers start an AudioContext "suspended" until the user interacts with the page; unlock()
// is called from the click on "Enable sound", and after a reload the first click or key press
// anywhere resumes it (see useSoundUnlock).

export interface SoundPlayer {
  /** Create/resume the audio context; call from a user gesture. Resolves true when audible. */
  unlock(): Promise<boolean>;
  /** Play the alert if audio is allowed; never throws. */
  play(): void;
}

type AudioContextClass = typeof AudioContext;

function audioContextClass(): AudioContextClass | null {
  const w = window as unknown as { AudioContext?: AudioContextClass; webkitAudioContext?: AudioContextClass };
  return w.AudioContext ?? w.webkitAudioContext ?? null;
}

export function createWebAudioSound(): SoundPlayer {
  let context: AudioContext | null = null;

  const ensure = (): AudioContext | null => {
    if (context) return context;
    const Ctor = audioContextClass();
    if (!Ctor) return null;
    try {
      context = new Ctor();
    } catch {
      context = null;
    }
    return context;
  };

  const note = (ctx: AudioContext, frequency: number, start: number, length: number) => {
    const oscillator = ctx.createOscillator();
    const gain = ctx.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
    oscillator.connect(gain).connect(ctx.destination);
    oscillator.start(start);
    oscillator.stop(start + length + 0.02);
  };

  return {
    async unlock() {
      const ctx = ensure();
      if (!ctx) return false;
      try {
        if (ctx.state === "suspended") await ctx.resume();
      } catch {
        return false;
      }
      return ctx.state === "running";
    },
    play() {
      const ctx = ensure();
      if (!ctx || ctx.state !== "running") return;
      try {
        const t = ctx.currentTime;
        note(ctx, 880, t, 0.18);
        note(ctx, 1318.5, t + 0.16, 0.28);
      } catch {
        // audio is a bonus signal, never the only one
      }
    },
  };
}
