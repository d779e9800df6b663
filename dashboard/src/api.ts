// Every call the dashboard makes to the leadcast API, typed, in one place.
//
// Shapes follow the backend (src/leadcast/api/, src/leadcast/services/{accounts,leads,inbox}.py).
// Components never call fetch themselves: they get an `Api` from ApiContext (api-context.tsx),
// which tests replace with a fake.

// ---------------------------------------------------------------- domain values

export type Tier = "excellent" | "good" | "fair";
export const TIERS: readonly Tier[] = ["excellent", "good", "fair"];
const TIER_RANK: Record<Tier, number> = { excellent: 3, good: 2, fair: 1 };

/** True when `tier` is at least `minimum` (excellent > good > fair). */
export function tierAtLeast(tier: string, minimum: Tier): boolean {
  const rank = TIER_RANK[tier as Tier];
  return rank !== undefined && rank >= TIER_RANK[minimum];
}

export type LeadStatus = "new" | "viewed" | "accepted" | "declined" | "contacted" | "won" | "lost";
export const LEAD_STATUSES: readonly LeadStatus[] = [
  "new",
  "viewed",
  "accepted",
  "declined",
  "contacted",
  "won",
  "lost",
];

/** The workflow (leadcast.services.leads.TRANSITIONS): which status may follow which. */
export const TRANSITIONS: Record<LeadStatus, readonly LeadStatus[]> = {
  new: ["viewed", "accepted", "declined"],
  viewed: ["accepted", "declined"],
  accepted: ["contacted"],
  contacted: ["won", "lost"],
  declined: [],
  won: [],
  lost: [],
};

/** Canonical property types (leadcast.leads.model.PROPERTY_TYPES). */
export const PROPERTY_TYPES: readonly string[] = [
  "residential",
  "single-family",
  "multifamily",
  "condo",
  "hoa",
  "commercial",
  "office",
  "retail",
  "industrial",
  "mixed-use",
  "vacation-rental",
];

export interface User {
  id: number;
  email: string;
  name: string;
  role: "pm" | "admin";
  created_at: string;
}

export interface LoginResult {
  token: string;
  user: User;
  expires_at?: string;
}

export interface Badge {
  text: string;
  color: string;
  priority: string;
}

export interface Score {
  score: number;
  tier: Tier;
  badge: Badge;
  reasons: string[];
}

/** The `lead.distributed` event on `private-property-manager.{userId}`. */
export interface LeadDistributedEvent {
  lead: {
    id: number;
    user_lead_id: number;
    property_type: string;
    street_address: string | null;
    city: string;
    state: string;
    zip_code: string;
    number_of_units: number | null;
    full_name: string;
    created_at: string;
    status: string;
  };
  score: Score;
  notification: { title: string; message: string; priority: string };
  notification_id: number;
}

/** One inbox item; `payload` is the broadcast event it was sent as. */
export interface InboxItem {
  id: number;
  lead_id: number;
  user_lead_id: number;
  tier: Tier;
  title: string;
  message: string;
  priority: string;
  payload: LeadDistributedEvent;
  created_at: string;
  seen_at: string | null;
  read_at: string | null;
}

export interface InboxCounts {
  unread_count: number;
  unseen_count: number;
}

/** A page of the inbox, newest first; pass `next_cursor` as `before` for the next one. */
export interface InboxPage extends InboxCounts {
  items: InboxItem[];
  next_cursor: string | null;
}

export interface InboxQuery {
  read?: boolean;
  tier?: Tier;
  /** Only items older than this id (paging). */
  before?: number | string;
  /** Only items newer than this id (catching up after a reconnect). */
  after?: number;
  limit?: number;
}

/** A lead as the PM's list shows it (no contact details). */
export interface LeadItem {
  id: number;
  user_lead_id: number;
  property_type: string;
  street_address: string | null;
  city: string;
  state: string;
  zip_code: string;
  number_of_units: number | null;
  full_name: string;
  created_at: string;
  status: LeadStatus;
  score: Score;
  viewed_at: string | null;
  updated_at: string;
}

export interface LeadDetail extends LeadItem {
  email: string | null;
  phone: string | null;
  source: string | null;
  score_breakdown: { points: number; text: string; group?: string }[];
  responded_at: string | null;
  contacted_at: string | null;
  closed_at: string | null;
  allowed_transitions: LeadStatus[];
}

export interface LeadPage {
  items: LeadItem[];
  page: number;
  per_page: number;
  total: number;
}

export interface LeadFilters {
  status?: LeadStatus | "";
  tier?: Tier | "";
  property_type?: string;
  search?: string;
  page?: number;
  per_page?: number;
}

/** Server-stored dashboard preferences (GET/PUT /api/me/preferences). */
export interface Preferences {
  sound: boolean;
  toast_min_tier: Tier;
  desktop_notifications: boolean;
}

export const DEFAULT_PREFERENCES: Preferences = {
  sound: false,
  toast_min_tier: "fair",
  desktop_notifications: false,
};

/** How to reach the real-time server (GET /api/realtime-config). */
export interface RealtimeConfig {
  /** False when the server broadcasts nowhere (BROADCAST_DRIVER log/null). */
  enabled?: boolean;
  key: string;
  cluster: string;
  /** Absent (null) for hosted Pusher: pusher-js then uses the cluster. */
  wsHost: string | null;
  wsPort: number | null;
  wssPort?: number | null;
  forceTLS: boolean;
  authEndpoint: string;
  userAuthEndpoint?: string;
  /** "private-property-manager." — append the PM's id. */
  channelPrefix?: string;
  /** "lead.distributed" */
  event?: string;
}

// ---------------------------------------------------------------- the client

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface Api {
  login(email: string, password: string): Promise<LoginResult>;
  logout(): Promise<void>;
  me(): Promise<User>;
  realtimeConfig(): Promise<RealtimeConfig>;

  leads(filters: LeadFilters): Promise<LeadPage>;
  lead(id: number): Promise<LeadDetail>;
  setLeadStatus(id: number, status: LeadStatus): Promise<LeadDetail>;

  notifications(query: InboxQuery): Promise<InboxPage>;
  notificationCounts(): Promise<InboxCounts>;
  markRead(id: number): Promise<void>;
  markAllRead(): Promise<void>;
  clearAll(): Promise<void>;

  preferences(): Promise<Preferences>;
  savePreferences(preferences: Preferences): Promise<Preferences>;
}

export interface HttpApiOptions {
  /** The current Bearer token, or null when logged out. */
  token: () => string | null;
  /** Called on any 401, e.g. to drop an expired session. */
  onUnauthorized?: () => void;
  baseUrl?: string;
  fetch?: typeof fetch;
}

type Query = Record<string, string | number | boolean | undefined | null>;

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function errorMessage(status: number, body: unknown): string {
  // The API answers errors with {"error": "...", "fields"?: {name: problem}}.
  if (body && typeof body === "object") {
    const { error, fields, detail } = body as { error?: unknown; fields?: unknown; detail?: unknown };
    if (typeof error === "string") {
      if (fields && typeof fields === "object") {
        const problems = Object.entries(fields as Record<string, unknown>).map(
          ([name, problem]) => `${name} ${String(problem)}`,
        );
        if (problems.length) return `${error} (${problems.join("; ")})`;
      }
      return error;
    }
    if (typeof detail === "string") return detail;
  }
  return `request failed (HTTP ${status})`;
}

/** The real API over fetch, same-origin by default. */
export function createHttpApi(options: HttpApiOptions): Api {
  const base = options.baseUrl ?? "";
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = options.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await doFetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (!response.ok) {
      if (response.status === 401) options.onUnauthorized?.();
      throw new ApiError(response.status, errorMessage(response.status, parsed), parsed);
    }
    return parsed as T;
  }

  return {
    login: (email, password) => request("POST", "/api/auth/login", { email, password }),
    logout: async () => {
      await request("POST", "/api/auth/logout");
    },
    me: () => request("GET", "/api/me"),
    realtimeConfig: () => request("GET", "/api/realtime-config"),

    leads: (filters) =>
      request(
        "GET",
        `/api/leads${queryString({
          status: filters.status,
          tier: filters.tier,
          property_type: filters.property_type,
          search: filters.search?.trim(),
          page: filters.page,
          per_page: filters.per_page,
        })}`,
      ),
    lead: (id) => request("GET", `/api/leads/${id}`),
    setLeadStatus: (id, status) => request("POST", `/api/leads/${id}/status`, { status }),

    notifications: (query) =>
      request(
        "GET",
        `/api/notifications${queryString({
          read: query.read,
          tier: query.tier,
          before: query.before,
          after: query.after,
          limit: query.limit,
        })}`,
      ),
    notificationCounts: () => request("GET", "/api/notifications/unread-count"),
    markRead: async (id) => {
      await request("POST", `/api/notifications/${id}/read`);
    },
    markAllRead: async () => {
      await request("POST", "/api/notifications/read-all");
    },
    clearAll: async () => {
      await request("POST", "/api/notifications/clear");
    },

    preferences: () => request("GET", "/api/me/preferences"),
    savePreferences: (preferences) => request("PUT", "/api/me/preferences", preferences),
  };
}
