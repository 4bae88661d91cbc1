-- Argo CD health of a Herald Channel (one carrier connection).
-- Progressing: being deleted, or the operator has not checked this generation yet.
-- Healthy: Ready (the password Secret resolves and the SMSC accepts a bind).
-- Degraded: not Ready (missing Secret or key, refused bind, SMSC down), with why.
local hs = {}
if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted (waits while unfinished campaigns use it)"
  return hs
end
local status = obj.status or {}
if status.observedGeneration == nil or status.observedGeneration < (obj.metadata.generation or 0) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to check this generation"
  return hs
end
for _, condition in ipairs(status.conditions or {}) do
  if condition.type == "Ready" then
    if condition.status == "True" then
      hs.status = "Healthy"
    else
      hs.status = "Degraded"
    end
    hs.message = condition.reason .. ": " .. (condition.message or "")
    return hs
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the operator to check it"
return hs
