//! Lua text the store's scripts share, as macros so that each script is one `concat!` of
//! constant text: the Redis clock, a stream's last id, and the Redis incarnation recorded beside
//! the mirrors' acknowledgements.

/// The Lua lines every script that needs the Redis clock starts with: `now` (unix seconds) and
/// `now_ms` (unix milliseconds), read once from `TIME`, so every replica shares one clock.
macro_rules! lua_redis_now {
    () => {
        "local t = redis.call('TIME')
local now = tonumber(t[1])
local now_ms = now * 1000 + math.floor(tonumber(t[2]) / 1000)
"
    };
}

/// The Lua function `last_id(stream)`: the id of the last entry ever added to the stream (which
/// trimming does not change), `0-0` for none.
macro_rules! lua_last_id {
    () => {
        r"
local function last_id(stream)
  if redis.call('EXISTS', stream) == 0 then return '0-0' end
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
"
    };
}

/// The Lua function `note_incarnation(acks)`, run by every script that writes or reads the
/// mirrors' acknowledgements (after `lua_redis_now!`): it records in the hash which Redis
/// process and replication history it lives in (`_incarnation`: run id and replication id) and
/// since when (`_since`, unix ms). A restart (whose AOF may have lost the latest
/// acknowledgements) or a failover (to a replica that may lag) changes the incarnation, so a
/// revocation then knows the acknowledgements may be older than the leases they describe. A hash
/// without the field (a fresh store, or one from before this field) starts with `_since` = 0.
macro_rules! lua_incarnation {
    () => {
        r"
local function note_incarnation(acks)
  local info = redis.call('INFO', 'server') .. redis.call('INFO', 'replication')
  local current = string.match(info, 'run_id:(%w+)') .. ' ' .. string.match(info, 'master_replid:(%w+)')
  local seen = redis.call('HGET', acks, '_incarnation')
  if seen ~= current then
    local since = now_ms
    if not seen then since = 0 end
    redis.call('HSET', acks, '_incarnation', current, '_since', since)
  end
end
"
    };
}
