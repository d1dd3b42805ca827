-- _ledger.lua: the ledger's stored format, put in front of every script that reads or writes a
-- recipient's state. The tags and fields come from orchestrator/core/ledger_state.py (the one
-- owner of the format); a test checks that both sides read what the other writes.
local LEDGER_TAG = __LEDGER_TAGS__
local LEDGER_FIELDS = __LEDGER_FIELDS__
local LEDGER_STATE = {}
for state, tag in pairs(LEDGER_TAG) do LEDGER_STATE[tag] = state end

-- A stored state as a table: {state = 'granted', grant = ..., attempts = ..., grant_time = ...};
-- nil when it is not in the ledger's format. No stored state at all is queued with no try.
local function ledger_parse(raw)
  raw = raw or (LEDGER_TAG.queued .. '|0')
  local state = LEDGER_STATE[string.sub(raw, 1, 1)]
  if not state or string.sub(raw, 2, 2) ~= '|' then return nil end
  local names = LEDGER_FIELDS[state]
  local entry = {state = state}
  local pos = 3
  for i, name in ipairs(names) do
    if i == #names then
      entry[name] = string.sub(raw, pos)
    else
      local bar = string.find(raw, '|', pos, true)
      if not bar then return nil end
      entry[name] = string.sub(raw, pos, bar - 1)
      pos = bar + 1
    end
  end
  return entry
end

-- Encode `fields` (strings; times as received in ARGV, so they keep their full precision) as `state`.
local function ledger_format(state, fields)
  local parts = {LEDGER_TAG[state]}
  for _, name in ipairs(LEDGER_FIELDS[state]) do
    local v = fields[name]
    if v == nil then error('ledger_format: ' .. state .. ' needs ' .. name) end
    parts[#parts + 1] = tostring(v)
  end
  return table.concat(parts, '|')
end
