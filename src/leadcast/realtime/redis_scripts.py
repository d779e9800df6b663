"""The Lua scripts of the Redis backend: every change to shared state is one atomic script.

Key layout (``P`` is the key prefix, ``--redis-prefix``; app ids and channel names never hold
``:`` or a newline, and node ids are digits):

=====================================  ====================================================
``P:nodes``                            sorted set: node id → heartbeat deadline (ms)
``P:node:{node}``                      set of ``{app}\\n{channel}`` the node subscribes to
``P:node:{node}:apps``                 set of apps the node has signed-in users of
``P:node:{node}:holds``                sorted set of the hold markers the node set
``P:a:{app}:channels``                 set of occupied channels
``P:a:{app}:s:{channel}``              hash: node → subscriptions on that node
``P:a:{app}:m:{channel}``              hash: presence user → connections, all nodes
``P:a:{app}:i:{channel}``              hash: presence user → user info (JSON)
``P:a:{app}:n:{channel}``              hash: ``{node}\\n{user}`` → that node's connections
``P:a:{app}:u`` / ``P:a:{app}:un``     hashes: signed-in user → connections / per node
``P:a:{app}:v``                        counter of the app's member changes (added, removed)
``P:a:{app}:cache:{channel}``          the cache channel's last event, with a TTL
``P:a:{app}:hold:{channel}[:{user}]``  the node holding a vacated / removed webhook, with
                                       the webhook delay as TTL
``P:a:{app}:bus``                      pub/sub channel of the app's deliveries
=====================================  ====================================================

Every count is kept per node, so a node's entries can be taken out whole when it stops
(``drop_node``): the survivors find it in ``P:nodes`` past its deadline. Each script returns
the transitions it made as a flat list of seven strings each: kind, app, channel, user,
holder, user info, version (``''`` for none). ``P:a:{app}:v`` counts the app's member
changes; a member event carries the count after it, and ``JOIN`` answers the count its
member list was read at, so a node that hears of an event late can tell who it is news to.

Scripts run on one Redis server (or a primary); keys are computed inside them, so Redis
Cluster is not supported.
"""

from __future__ import annotations

__all__ = [
    "CHANNEL",
    "CHANNELS",
    "FORGET",
    "HEARTBEAT",
    "JOIN",
    "LEAVE",
    "REAP",
    "RESYNC",
    "SIGN_IN",
    "SIGN_OUT",
    "USERS",
]

#: Shared by every script. ARGV[1] prefix, ARGV[2] this node, ARGV[3] hold (ms, 0: none).
_LIBRARY = r"""
local P = ARGV[1]
local NODE = ARGV[2]
local HOLD = tonumber(ARGV[3])
local out = {}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function key(app, kind, ch)
  return P .. ':a:' .. app .. ':' .. kind .. ':' .. ch
end

local function emit(kind, app, ch, user, holder, info, version)
  local n = #out
  out[n + 1] = kind
  out[n + 2] = app
  out[n + 3] = ch
  out[n + 4] = user
  out[n + 5] = holder
  out[n + 6] = info
  out[n + 7] = version or ''
end

local function member_change(app)
  return tostring(redis.call('INCR', P .. ':a:' .. app .. ':v'))
end

local function unhold(k)
  if HOLD <= 0 then return '' end
  local holder = redis.call('GET', k)
  if holder then
    redis.call('DEL', k)
    return holder
  end
  return ''
end

-- Markers are indexed per holding node (expiry as score) so that it can take its own out.
local function hold(k, holder)
  if HOLD > 0 then
    redis.call('SET', k, holder, 'PX', HOLD)
    local held = P .. ':node:' .. holder .. ':holds'
    local t = now_ms()
    redis.call('ZADD', held, t + HOLD, k)
    redis.call('ZREMRANGEBYSCORE', held, '-inf', t)
  end
end

-- A node's count in hash h (field f) changes by delta, never below 0; returns old, new.
local function count(h, f, delta)
  local had = tonumber(redis.call('HGET', h, f) or '0')
  local now = had + delta
  if now < 0 then now = 0 end
  if now ~= had then
    if now == 0 then redis.call('HDEL', h, f) else redis.call('HSET', h, f, now) end
  end
  return had, now
end

local function subs(node, app, ch, delta, holder)
  local s = key(app, 's', ch)
  local before = redis.call('EXISTS', s)
  local had, now = count(s, node, delta)
  if had == now then return end
  local entry = app .. '\n' .. ch
  if now > 0 then
    redis.call('SADD', P .. ':node:' .. node, entry)
  else
    redis.call('SREM', P .. ':node:' .. node, entry)
  end
  local after = redis.call('EXISTS', s)
  if before == 0 and after == 1 then
    redis.call('SADD', P .. ':a:' .. app .. ':channels', ch)
    emit('occupied', app, ch, '', unhold(key(app, 'hold', ch)), '')
  elseif before == 1 and after == 0 then
    redis.call('SREM', P .. ':a:' .. app .. ':channels', ch)
    hold(key(app, 'hold', ch), holder)
    emit('vacated', app, ch, '', '', '')
  end
end

local function member(node, app, ch, user, info, delta, holder)
  if info then redis.call('HSET', key(app, 'i', ch), user, info) end
  local had, now = count(key(app, 'n', ch), node .. '\n' .. user, delta)
  if had == now then return end
  local m = key(app, 'm', ch)
  local total = redis.call('HINCRBY', m, user, now - had)
  local before = total - (now - had)
  if total <= 0 then
    redis.call('HDEL', m, user)
    redis.call('HDEL', key(app, 'i', ch), user)
    if before > 0 then
      hold(key(app, 'hold', ch) .. ':' .. user, holder)
      emit('removed', app, ch, user, '', '', member_change(app))
    end
  elseif before <= 0 then
    local known = redis.call('HGET', key(app, 'i', ch), user) or 'null'
    emit('added', app, ch, user, unhold(key(app, 'hold', ch) .. ':' .. user), known,
      member_change(app))
  end
end

local function user(node, app, uid, delta)
  local had, now = count(P .. ':a:' .. app .. ':un', node .. '\n' .. uid, delta)
  if had == now then return end
  if now > 0 then redis.call('SADD', P .. ':node:' .. node .. ':apps', app) end
  local u = P .. ':a:' .. app .. ':u'
  local total = redis.call('HINCRBY', u, uid, now - had)
  local before = total - (now - had)
  if total <= 0 then
    redis.call('HDEL', u, uid)
    if before > 0 then emit('offline', app, '', uid, '', '') end
  elseif before <= 0 then
    emit('online', app, '', uid, '', '')
  end
end

-- Take out everything node counts; transitions are reported (and held) by holder.
local function drop_node(node, holder)
  local prefix = node .. '\n'
  local index = P .. ':node:' .. node
  for _, entry in ipairs(redis.call('SMEMBERS', index)) do
    local cut = string.find(entry, '\n', 1, true)
    local app = string.sub(entry, 1, cut - 1)
    local ch = string.sub(entry, cut + 1)
    local fields = redis.call('HGETALL', key(app, 'n', ch))
    for j = 1, #fields, 2 do
      if string.sub(fields[j], 1, #prefix) == prefix then
        local uid = string.sub(fields[j], #prefix + 1)
        member(node, app, ch, uid, false, -tonumber(fields[j + 1]), holder)
      end
    end
    subs(node, app, ch, -1e15, holder)
  end
  redis.call('DEL', index)
  local apps = P .. ':node:' .. node .. ':apps'
  for _, app in ipairs(redis.call('SMEMBERS', apps)) do
    local fields = redis.call('HGETALL', P .. ':a:' .. app .. ':un')
    for j = 1, #fields, 2 do
      if string.sub(fields[j], 1, #prefix) == prefix then
        user(node, app, string.sub(fields[j], #prefix + 1), -tonumber(fields[j + 1]))
      end
    end
  end
  redis.call('DEL', apps)
end

"""

#: ARGV[4..] app, channel, user ('' for none), user info, max members, cache (1/0).
#: → {'full'} or {'ok', cached text or '', transitions, {user, info, ...}, member changes}
JOIN = (
    _LIBRARY
    + r"""
local app, ch, uid = ARGV[4], ARGV[5], ARGV[6]
if uid ~= '' then
  local m = key(app, 'm', ch)
  if redis.call('HEXISTS', m, uid) == 0 and redis.call('HLEN', m) >= tonumber(ARGV[8]) then
    return {'full'}
  end
end
subs(NODE, app, ch, 1, NODE)
local members = {}
local changes = '0'
if uid ~= '' then
  member(NODE, app, ch, uid, ARGV[7], 1, NODE)
  members = redis.call('HGETALL', key(app, 'i', ch))
  changes = redis.call('GET', P .. ':a:' .. app .. ':v') or '0'
end
local cached = ''
if ARGV[9] == '1' then cached = redis.call('GET', key(app, 'cache', ch)) or '' end
return {'ok', cached, out, members, changes}
"""
)

#: ARGV[4..] app, channel, user ('' for none) → transitions
LEAVE = (
    _LIBRARY
    + r"""
local app, ch, uid = ARGV[4], ARGV[5], ARGV[6]
if uid ~= '' then member(NODE, app, ch, uid, false, -1, NODE) end
subs(NODE, app, ch, -1, NODE)
return out
"""
)

#: ARGV[4..] app, user, watched users… → {transitions, watched users online}
SIGN_IN = (
    _LIBRARY
    + r"""
local app = ARGV[4]
user(NODE, app, ARGV[5], 1)
local online = {}
local u = P .. ':a:' .. app .. ':u'
for j = 6, #ARGV do
  if redis.call('HEXISTS', u, ARGV[j]) == 1 then online[#online + 1] = ARGV[j] end
end
return {out, online}
"""
)

#: ARGV[4..] app, user → transitions
SIGN_OUT = (
    _LIBRARY
    + r"""
user(NODE, ARGV[4], ARGV[5], -1)
return out
"""
)

#: ARGV[4] ttl (ms), ARGV[5] '1' to register a new node id.
#: Register → 1, or 0 when a live node has the id. Otherwise → 1 when the node was still
#: known, 0 when its entries were dropped (it must rebuild them).
HEARTBEAT = (
    _LIBRARY
    + r"""
local nodes = P .. ':nodes'
local deadline = now_ms() + tonumber(ARGV[4])
if ARGV[5] == '1' then
  local score = redis.call('ZSCORE', nodes, NODE)
  if score and tonumber(score) > now_ms() then return 0 end
  drop_node(NODE, NODE)
  redis.call('ZADD', nodes, deadline, NODE)
  return 1
end
local known = redis.call('ZSCORE', nodes, NODE)
redis.call('ZADD', nodes, deadline, NODE)
if known then return 1 end
return 0
"""
)

#: Drop every node past its deadline, reporting as NODE → {transitions, dropped node ids}
REAP = (
    _LIBRARY
    + r"""
local nodes = P .. ':nodes'
local dead = redis.call('ZRANGEBYSCORE', nodes, '-inf', now_ms())
for _, node in ipairs(dead) do
  if node ~= NODE then
    redis.call('ZREM', nodes, node)
    drop_node(node, NODE)
  end
end
return {out, dead}
"""
)

#: ARGV[4] ttl (ms), then entries: 'c', app, channel, n | 'm', app, channel, user, info, n |
#: 'u', app, user, n. Replaces this node's entries with these → transitions (both ways).
RESYNC = (
    _LIBRARY
    + r"""
drop_node(NODE, NODE)
redis.call('ZADD', P .. ':nodes', now_ms() + tonumber(ARGV[4]), NODE)
local j = 5
while j <= #ARGV do
  local kind = ARGV[j]
  if kind == 'c' then
    subs(NODE, ARGV[j + 1], ARGV[j + 2], tonumber(ARGV[j + 3]), NODE)
    j = j + 4
  elseif kind == 'm' then
    member(NODE, ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], ARGV[j + 4], tonumber(ARGV[j + 5]), NODE)
    j = j + 6
  else
    user(NODE, ARGV[j + 1], ARGV[j + 2], tonumber(ARGV[j + 3]))
    j = j + 4
  end
end
return out
"""
)

#: A node that stops: its hold markers (it sends what it held) and its heartbeat go.
FORGET = (
    _LIBRARY
    + r"""
local held = P .. ':node:' .. NODE .. ':holds'
for _, k in ipairs(redis.call('ZRANGE', held, 0, -1)) do
  if redis.call('GET', k) == NODE then redis.call('DEL', k) end
end
redis.call('DEL', held)
redis.call('ZREM', P .. ':nodes', NODE)
return 1
"""
)

#: ARGV[4..] app, channel, '1' for presence → {subscriptions, users, cached text, ttl ms}
CHANNEL = (
    _LIBRARY
    + r"""
local app, ch = ARGV[4], ARGV[5]
local total = 0
for _, n in ipairs(redis.call('HVALS', key(app, 's', ch))) do total = total + tonumber(n) end
local users = -1
if ARGV[6] == '1' then users = redis.call('HLEN', key(app, 'm', ch)) end
local c = key(app, 'cache', ch)
local cached = redis.call('GET', c) or ''
local ttl = -1
if cached ~= '' then ttl = redis.call('PTTL', c) end
return {total, users, cached, ttl}
"""
)

#: ARGV[4..] app, prefix → {channel, subscriptions, users (-1: not presence), ...}
CHANNELS = (
    _LIBRARY
    + r"""
local app, prefix = ARGV[4], ARGV[5]
local found = {}
for _, ch in ipairs(redis.call('SMEMBERS', P .. ':a:' .. app .. ':channels')) do
  if string.sub(ch, 1, #prefix) == prefix then
    local total = 0
    for _, n in ipairs(redis.call('HVALS', key(app, 's', ch))) do total = total + tonumber(n) end
    local users = -1
    if string.sub(ch, 1, 9) == 'presence-' then users = redis.call('HLEN', key(app, 'm', ch)) end
    found[#found + 1] = ch
    found[#found + 1] = total
    found[#found + 1] = users
  end
end
return found
"""
)

#: ARGV[4..] app, channel → presence user ids
USERS = (
    _LIBRARY
    + r"""
return redis.call('HKEYS', key(ARGV[4], 'm', ARGV[5]))
"""
)
