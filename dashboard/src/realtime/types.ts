// The real-time layer as the app sees it: a connection with a state and one event stream.
// The real implementation wraps laravel-echo + pusher-js (echo.ts); tests use a fake.
import type { LeadDistributedEvent, RealtimeConfig } from "../api";

/**
 * - connecting: first attempt, never connected yet
 * - connected: socket open AND the PM's private channel subscribed (events flow)
 * - reconnecting: was connected, lost it, pusher-js is retrying
 * - offline: unavailable (no network / server down; pusher-js keeps retrying), failed, or
 *   the channel was refused
 */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline";

export interface RealtimeConnection {
  state(): ConnectionState;
  /** Called on every change of state; returns an unsubscribe function. */
  onStateChange(listener: (state: ConnectionState) => void): () => void;
  /** Called for every `lead.distributed` event; returns an unsubscribe function. */
  onLeadDistributed(listener: (event: LeadDistributedEvent) => void): () => void;
  /** Closes the connection for good (logout, unmount). */
  disconnect(): void;
}

export interface RealtimeOptions {
  config: RealtimeConfig;
  token: string;
  userId: number;
}

export type RealtimeFactory = (options: RealtimeOptions) => RealtimeConnection;

/** The PM's channel, as the server names it (Echo adds the `private-` prefix). */
export const pmChannel = (userId: number) => `property-manager.${userId}`;
export const LEAD_EVENT = "lead.distributed";
